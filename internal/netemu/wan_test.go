package netemu_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/netemu"
	"github.com/torfs/torfs/internal/netemu/netemutest"
)

// ioTimeout bounds every read and write of these tests.
const ioTimeout = time.Minute

// connect listens in w.B and dials from w.A, returning the two ends of one
// TCP connection across the link.
func connect(t testing.TB, w *netemu.WAN) (a, b net.Conn) {
	t.Helper()
	var ln net.Listener
	err := w.B.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(netemu.AddrB, 0).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in namespace B: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept in namespace B: %v", err)
		}
		accepted <- c
	}()
	err = w.A.Do(func() error {
		var err error
		a, err = net.DialTimeout("tcp4", ln.Addr().String(), ioTimeout)
		return err
	})
	if err != nil {
		t.Fatalf("dial B from namespace A: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	b = <-accepted
	if b == nil {
		t.FailNow()
	}
	t.Cleanup(func() { b.Close() })
	deadline := time.Now().Add(ioTimeout)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	return a, b
}

func TestWANRoundTripTakesTwiceTheDelay(t *testing.T) {
	const delay = 25 * time.Millisecond
	w := netemutest.New(t, netemu.Config{Delay: delay, Rate: 100_000_000})
	a, b := connect(t, w)
	go io.Copy(b, b) // B echoes

	buf := make([]byte, 1)
	var rtts []time.Duration
	for i := range 10 {
		start := time.Now()
		if _, err := a.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			t.Fatal(err)
		}
		rtts = append(rtts, time.Since(start))
		if buf[0] != byte(i) {
			t.Fatalf("echo %d came back as %d", i, buf[0])
		}
	}
	for i, rtt := range rtts {
		if rtt < 2*delay {
			t.Errorf("round trip %d took %v, less than twice the one-way delay %v", i, rtt, delay)
		}
	}
	t.Logf("round trips: %v", rtts)
	ab, ba := w.Link.Stats()
	if ab.Packets < 10 || ba.Packets < 10 {
		t.Errorf("link counted %d packets A->B and %d B->A, want at least the 10 pings and 10 echoes", ab.Packets, ba.Packets)
	}
}

// transfer sends size random bytes from w.A to w.B over TCP and returns
// the receiver's rate in bits per second, from accepting the connection
// to holding the last byte.
func transfer(t testing.TB, w *netemu.WAN, size int) float64 {
	t.Helper()
	a, b := connect(t, w)
	start := time.Now()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := a.Write(data)
		a.Close()
		sent <- err
	}()
	got, err := io.ReadAll(b)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	return float64(size) * 8 / elapsed.Seconds()
}

func TestWANRateLimitsBulkTransfer(t *testing.T) {
	cfg := netemu.WANDefaults()
	w := netemutest.New(t, cfg)
	bps := transfer(t, w, 4<<20)
	t.Logf("4 MiB across %s: %.1f Mbit/s", cfg, bps/1e6)
	if bps > float64(cfg.Rate)*1.1 {
		t.Errorf("throughput %.1f Mbit/s exceeds the link's rate %.0f Mbit/s", bps/1e6, float64(cfg.Rate)/1e6)
	}
	ab, _ := w.Link.Stats()
	if ab.Bytes < 4<<20 {
		t.Errorf("link delivered %d bytes A->B, less than the 4 MiB of payload", ab.Bytes)
	}
	// 0.5% of about 3,000 data packets: losing none has odds of e^-15.
	if ab.Lost == 0 {
		t.Errorf("no packet lost A->B at %g%% loss: %+v", cfg.Loss*100, ab)
	}
}

func TestWANQueueOverflowDropsAtTheTail(t *testing.T) {
	// 10 Mbit/s with a 20-packet queue: TCP's slow start outgrows it.
	cfg := netemu.Config{Delay: 10 * time.Millisecond, Rate: 10_000_000, Limit: 20}
	w := netemutest.New(t, cfg)
	transfer(t, w, 1<<20)
	ab, _ := w.Link.Stats()
	if ab.Dropped == 0 || ab.MaxQueue != cfg.Limit || ab.Lost != 0 {
		t.Errorf("A->B %+v: want tail drops, a queue that reached %d packets, no random loss", ab, cfg.Limit)
	}
	// 20 packets of at most 1500 bytes at 10 Mbit/s: 24 ms at most.
	if limit := time.Duration(cfg.Limit*netemu.MTU*8) * time.Second / time.Duration(cfg.Rate); ab.MaxQueueDelay > limit {
		t.Errorf("a packet waited %v for the rate, longer than a full queue takes (%v)", ab.MaxQueueDelay, limit)
	}
}

func TestWANNamespacesHoldOnlyLoopbackAndTheLink(t *testing.T) {
	w := netemutest.New(t, netemu.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	// A process through ip netns exec (Command)...
	out, err := w.A.Command(ctx, "ip", "-o", "-4", "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in namespace A: %v\n%s", err, out)
	}
	if got := devices(string(out)); got != "lo 127.0.0.1/8, wan0 10.77.0.1/24" {
		t.Errorf("namespace A has %q, want only lo and wan0 at 10.77.0.1/24", got)
	}
	// ...and a process started by a function on the namespace's thread (Do).
	err = w.B.Do(func() error {
		out, err = exec.CommandContext(ctx, "ip", "-o", "-4", "addr", "show").CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("ip addr in namespace B: %v\n%s", err, out)
	}
	if got := devices(string(out)); got != "lo 127.0.0.1/8, wan0 10.77.0.2/24" {
		t.Errorf("namespace B has %q, want only lo and wan0 at 10.77.0.2/24", got)
	}
}

// devices turns ip -o -4 addr output into "DEV ADDR, DEV ADDR".
func devices(out string) string {
	var devs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			devs = append(devs, f[1]+" "+f[3])
		}
	}
	return strings.Join(devs, ", ")
}

func TestWANRemovesNamespacesOfDeadProcesses(t *testing.T) {
	// A process that has exited: its pid names a leftover namespace.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	orphan := fmt.Sprintf("torfs-wan-%d-0badc0de-a", dead.Process.Pid)
	if os.Geteuid() == 0 {
		if out, err := exec.Command("ip", "netns", "add", orphan).CombinedOutput(); err != nil {
			t.Fatalf("make a leftover namespace: %v\n%s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", orphan).Run() })
	}
	netemutest.New(t, netemu.Config{})
	if _, err := os.Stat("/run/netns/" + orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover namespace %s of a dead process is still there (%v)", orphan, err)
	}
}

// BenchmarkWANTransfer is the link's own cost: 64 MiB of TCP across a
// link without delay, loss or rate limit, so the link is the bottleneck.
// It reports MB/s and this process's CPU time per MB: the link's four
// goroutines and the benchmark's two sockets, which only copy.
func BenchmarkWANTransfer(b *testing.B) {
	w := netemutest.New(b, netemu.Config{})
	const size = 64 << 20
	chunk, recv := make([]byte, 256<<10), make([]byte, 64<<10)
	for b.Loop() {
		a, r := connect(b, w)
		before := selfCPU()
		start := time.Now()
		go func() {
			for range size / len(chunk) {
				if _, err := a.Write(chunk); err != nil {
					break
				}
			}
			a.Close()
		}()
		n, err := io.CopyBuffer(io.Discard, r, recv)
		if err != nil || n != size {
			b.Fatalf("received %d bytes (%v), want %d", n, err, size)
		}
		elapsed, cpu := time.Since(start), selfCPU()-before
		b.ReportMetric(size/1e6/elapsed.Seconds(), "MB/s")
		b.ReportMetric(float64(cpu.Microseconds())/1e3/(size/1e6), "cpu-ms/MB")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestNamespaceCloseKeepsItsThread: closing a namespace hands its thread
// back to Go instead of ending it. A process started with Pdeathsig is
// killed when the thread that started it ends, and the namespace's
// thread may have run a test's goroutine, and started a process there,
// before it was locked into the namespace: that process must not die
// when another test closes its WAN. Shown here with a process started on
// the namespace's thread itself, the one a Close could kill.
func TestNamespaceCloseKeepsItsThread(t *testing.T) {
	w := netemutest.New(t, netemu.Config{})
	var p *exec.Cmd
	err := w.A.Do(func() error {
		p = exec.Command("sleep", "60")
		p.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		return p.Start()
	})
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = p.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.Process.Kill()
		<-exited
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Close returns just before the thread would end, and the kill
	// follows within microseconds; a second is plenty. (Waiting for
	// something that must not happen can only pass wrongly, never fail
	// wrongly.)
	select {
	case <-exited:
		t.Fatalf("a process started on the namespace's thread ended when the namespace closed: %v", waitErr)
	case <-time.After(time.Second):
	}
}
