package harness

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// FreePort returns a loopback port that is free for both TCP and UDP right
// now. Another process may take it before the caller binds it; the helpers
// that start servers retry on a fresh port when that happens.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("listen on 127.0.0.1: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		// Trackers serve UDP on the same port number.
		u, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no loopback port free for both TCP and UDP")
}

// WaitListening waits until a TCP connection to addr succeeds, or p (the
// process that should listen there, may be nil) exits, or ctx ends.
func WaitListening(ctx context.Context, addr string, p *Process) error {
	var d net.Dialer
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(attempt, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		var done <-chan struct{}
		if p != nil {
			done = p.Done()
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before listening on %s\n%s", p.Name(), addr, p.Output())
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s (%v): %w", addr, err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startServer starts a server on a free loopback port with start and
// waits (bounded by startTimeout) until ready answers. A free port can be
// taken by someone else before the server binds it, so a server that
// died is retried on a fresh port, up to three times; one that runs but
// does not answer is not. The process is stopped in tb's cleanup.
func startServer(tb testing.TB, name string, start func(port int) (*Process, error), ready func(ctx context.Context, p *Process, port int) error) (*Process, int) {
	tb.Helper()
	var lastErr error
	for range 3 {
		port := FreePort(tb)
		p, err := start(port)
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		lastErr = ready(ctx, p, port)
		cancel()
		if lastErr == nil {
			cleanupProcess(tb, p)
			return p, port
		}
		_, died := p.Exited()
		_ = p.Stop()
		if !died {
			break // it ran but did not answer: a fresh port will not help
		}
	}
	tb.Fatalf("start %s: %v", name, lastErr)
	return nil, 0
}
