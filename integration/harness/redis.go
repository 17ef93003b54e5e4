package harness

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Redis is a running redis-server on a loopback port, without persistence.
type Redis struct {
	proc *Process
	addr string
}

// StartRedis starts redis-server on a free loopback port (no RDB, no AOF,
// working directory in a temp dir) and waits until it answers PING.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	Require(tb, "redis-server")
	dir := tb.TempDir()
	addr := func(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
	start := func(port int) (*Process, error) {
		return startProcess(procSpec{
			name: "redis-server",
			path: "redis-server",
			dir:  dir,
			args: []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
				"--appendonly", "no", "--dir", dir, "--daemonize", "no"},
		})
	}
	ready := func(ctx context.Context, p *Process, port int) error {
		return (&Redis{proc: p, addr: addr(port)}).waitReady(ctx)
	}
	p, port := startServer(tb, "redis", start, ready)
	return &Redis{proc: p, addr: addr(port)}
}

func (r *Redis) waitReady(ctx context.Context) error {
	for {
		err := r.Ping(ctx)
		if err == nil {
			return nil
		}
		if _, exited := r.proc.Exited(); exited {
			return fmt.Errorf("redis-server exited: %v\n%s", err, r.proc.Output())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis-server does not answer PING at %s (%v): %w\n%s", r.addr, err, ctx.Err(), r.proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ping sends PING and checks for PONG.
func (r *Redis) Ping(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("redis ping: answer %q", line)
	}
	return nil
}

// Addr is HOST:PORT, what go-redis's Options.Addr takes.
func (r *Redis) Addr() string { return r.addr }

// URL is redis://HOST:PORT/0.
func (r *Redis) URL() string { return "redis://" + r.addr + "/0" }

// Process is the underlying process.
func (r *Redis) Process() *Process { return r.proc }
