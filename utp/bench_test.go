package utp

import (
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The throughput benchmarks move b.N bytes over loopback, uTP beside TCP,
// and report MB/s, the process's CPU milliseconds per MB (user+system,
// both ends) and heap allocations per MB. Compare the two in one run: the machine's load moves both.
//
//	go test -run x -bench Throughput -benchtime 268435456x -count 3 ./utp/

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type dialFunc func(ctx context.Context) (net.Conn, error)

func benchThroughput(b *testing.B, ln net.Listener, dial dialFunc, conns int) {
	total := int64(b.N)
	per := total / int64(conns)
	b.SetBytes(1)
	var wg sync.WaitGroup
	errs := make(chan error, 2*conns)
	buf := make([]byte, 64<<10)
	b.ResetTimer()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0 := cpuTime()
	t0 := time.Now()
	for range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := io.CopyN(io.Discard, c, per); err != nil {
				errs <- err
			}
			if u, ok := c.(*Conn); ok && testing.Verbose() {
				b.Logf("receiver %+v", u.Stats())
			}
		}()
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := dial(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for n := int64(0); n < per; {
				m, err := c.Write(buf[:min(int64(len(buf)), per-n)])
				n += int64(m)
				if err != nil {
					errs <- err
					return
				}
			}
			if u, ok := c.(*Conn); ok && testing.Verbose() {
				b.Logf("sender %+v", u.Stats())
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(t0), cpuTime()-c0
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	mb := float64(per*int64(conns)) / 1e6
	b.ReportMetric(mb/el.Seconds(), "MB/s")
	b.ReportMetric(cpu.Seconds()*1000/mb, "cpu-ms/MB")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/mb, "allocs/MB")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/1e6/mb, "allocMB/MB")
}

func benchUTP(b *testing.B, conns int) {
	a, s := listenT(b), listenT(b)
	benchThroughput(b, s, func(ctx context.Context) (net.Conn, error) { return a.Dial(ctx, s.AddrPort()) }, conns)
}

func benchTCP(b *testing.B, conns int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	benchThroughput(b, ln, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", ln.Addr().String()) }, conns)
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("utp/1", func(b *testing.B) { benchUTP(b, 1) })
	b.Run("tcp/1", func(b *testing.B) { benchTCP(b, 1) })
	b.Run("utp/4", func(b *testing.B) { benchUTP(b, 4) })
	b.Run("tcp/4", func(b *testing.B) { benchTCP(b, 4) })
}
