package portmap

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
)

// waitFor bounds every wait of these tests on an event of the Mapper's
// goroutine.
const waitFor = 10 * time.Second

// fakeClock is a clock that moves only when a test advances it. Each
// timer set is reported on sets, so a test knows the Mapper is waiting
// and for how long.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	sets   chan time.Duration
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), sets: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.sets <- d
	return t.c, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, u := range c.timers {
			if u == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return
			}
		}
	}
}

// Advance moves the clock by d, firing the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.c <- c.now
	}
	c.timers = kept
}

// nextWait waits until the Mapper sets a timer and returns its length.
func (c *fakeClock) nextWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.sets:
		return d
	case <-time.After(waitFor):
		t.Fatal("the Mapper set no timer")
		return 0
	}
}

// fakeGateway records the requests it gets and answers as its fields
// say.
type fakeGateway struct {
	name string
	ip   netip.Addr

	mu    sync.Mutex
	calls []string
	// grant answers Map; nil grants the port and lease asked for.
	grant func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error)
	// hangUnmap makes Unmap wait for its context to end.
	hangUnmap bool
	// hangMap, when set, makes Map say so on it, then wait for its
	// context to end.
	hangMap chan struct{}
}

func (g *fakeGateway) record(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, fmt.Sprintf(format, args...))
}

// Calls returns the requests so far and forgets them.
func (g *fakeGateway) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.calls
	g.calls = nil
	return c
}

func (g *fakeGateway) Map(ctx context.Context, proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	g.record("map %s %d->%d %v", proto, ext, internal, lease)
	g.mu.Lock()
	grant := g.grant
	g.mu.Unlock()
	if g.hangMap != nil {
		g.hangMap <- struct{}{}
		<-ctx.Done()
		return 0, 0, ctx.Err()
	}
	if grant != nil {
		return grant(proto, internal, ext, lease)
	}
	return ext, lease, nil
}

func (g *fakeGateway) Unmap(ctx context.Context, proto Protocol, internal, ext uint16) error {
	g.record("unmap %s %d->%d", proto, ext, internal)
	g.mu.Lock()
	hang := g.hangUnmap
	g.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (g *fakeGateway) ExternalIP(ctx context.Context) (netip.Addr, error) {
	if !g.ip.IsValid() {
		return netip.Addr{}, fmt.Errorf("no external address")
	}
	return g.ip, nil
}

func (g *fakeGateway) String() string { return g.name }

// found is a Discoverer that finds g at once.
func found(g Gateway) Discoverer {
	return func(ctx context.Context) (Gateway, error) { return g, nil }
}

// start starts a Mapper of port 6881 on the fake clock, logging into
// the returned buffer, and closes it when the test ends.
func start(t *testing.T, clk *fakeClock, opts Options) (*Mapper, *testutil.Buffer) {
	t.Helper()
	var logs testutil.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Port == 0 {
		opts.Port = 6881
	}
	opts.clock = clk
	m := Start(opts)
	t.Cleanup(func() { m.Close() })
	return m, &logs
}

// logLines counts the lines of logs that contain s.
func logLines(logs *testutil.Buffer, s string) int {
	return strings.Count(logs.String(), s)
}
