package utp

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/netemu"
	"github.com/torfs/torfs/internal/netemu/netemutest"
)

// BenchmarkWAN moves b.N bytes from namespace A to B across the emulated
// WAN (netemu.WANDefaults: 25 ms each way, 0.5% loss, 100 Mbit/s, 1000
// packets of queue), over uTP and then over the kernel's TCP, and reports
// MB/s, the link's tail drops and, for uTP, the sender's counters. It
// needs root (it skips otherwise); compare the two in one run:
//
//	go test -run x -bench WAN -benchtime 67108864x ./utp/
func BenchmarkWAN(b *testing.B) {
	b.Run("utp", func(b *testing.B) {
		w := netemutest.New(b, netemu.WANDefaults())
		var sa, sb *Socket
		err := w.A.Do(func() (err error) {
			sa, err = Listen(netip.AddrPortFrom(netemu.AddrA, 0))
			return err
		})
		if err == nil {
			err = w.B.Do(func() (err error) {
				sb, err = Listen(netip.AddrPortFrom(netemu.AddrB, 0))
				return err
			})
		}
		if err != nil {
			b.Fatal(err)
		}
		defer sa.Close()
		defer sb.Close()
		benchWAN(b, w, sb, func(ctx context.Context) (net.Conn, error) { return sa.Dial(ctx, sb.AddrPort()) })
	})
	b.Run("tcp", func(b *testing.B) {
		w := netemutest.New(b, netemu.WANDefaults())
		var ln net.Listener
		err := w.B.Do(func() (err error) {
			ln, err = net.Listen("tcp4", netip.AddrPortFrom(netemu.AddrB, 0).String())
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		var d net.Dialer
		benchWAN(b, w, ln, func(ctx context.Context) (c net.Conn, err error) {
			err = w.A.Do(func() error {
				c, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
				return err
			})
			return c, err
		})
	})
}

// benchWAN sends b.N bytes from a dialed connection to the accepted one
// and reports the receiver's rate, from dialing to the last byte.
func benchWAN(b *testing.B, w *netemu.WAN, ln net.Listener, dial dialFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	size := int64(b.N)
	b.SetBytes(1)
	b.ResetTimer()
	w.Link.ResetStats()
	start := time.Now()
	sent := make(chan error, 1)
	var sender net.Conn
	go func() {
		c, err := dial(ctx)
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		if u, ok := c.(*Conn); ok && testing.Verbose() {
			stop := traceConn(b, u, start)
			defer stop()
		}
		c.SetDeadline(time.Now().Add(10 * time.Minute))
		buf := make([]byte, 64<<10)
		for n := int64(0); n < size; {
			m, err := c.Write(buf[:min(int64(len(buf)), size-n)])
			n += int64(m)
			if err != nil {
				sent <- err
				return
			}
		}
		sender = c
		sent <- nil
	}()
	c, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	if n, err := io.CopyN(io.Discard, c, size); err != nil {
		b.Fatalf("received %d of %d bytes: %v", n, size, err)
	}
	el := time.Since(start)
	b.StopTimer()
	if err := <-sent; err != nil {
		b.Fatal(err)
	}
	ab, _ := w.Link.Stats()
	var stats Stats
	if u, ok := sender.(*Conn); ok {
		stats = u.Stats()
	}
	b.ReportMetric(float64(size)/1e6/el.Seconds(), "MB/s")
	b.ReportMetric(float64(ab.Dropped), "taildrops")
	b.ReportMetric(float64(ab.Lost), "lost")
	b.ReportMetric(float64(ab.MeanQueueDelay().Microseconds())/1e3, "queue-ms")
	if stats.PacketsSent > 0 {
		b.ReportMetric(float64(stats.Resent), "resent")
		b.ReportMetric(float64(stats.Timeouts), "timeouts")
		b.Logf("sender %+v", stats)
	}
}

// traceConn logs c's congestion state every 100 ms until stop, which
// returns once the logging has stopped.
func traceConn(b *testing.B, c *Conn, start time.Time) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			c.mu.Lock()
			b.Logf("%5.1fs cwnd %8d slow start %-5v in flight %8d queuing %6v peer window %8d sent %6d resent %5d fast %5d timeouts %d loss rate %.4f",
				time.Since(start).Seconds(), c.cc.window(), c.cc.slowStart, c.flightLen, c.cc.queuingDelay().Round(time.Millisecond),
				c.peerWnd, c.stats.PacketsSent, c.stats.Resent, c.stats.FastResent, c.stats.Timeouts, c.cc.lossRate)
			c.mu.Unlock()
		}
	}()
	return func() { close(done); <-stopped }
}
