package dht

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// levelCounter counts records by level and message.
type levelCounter struct {
	mu   sync.Mutex
	msgs map[slog.Level][]string
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *levelCounter) WithGroup(string) slog.Handler            { return c }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.msgs == nil {
		c.msgs = map[slog.Level][]string{}
	}
	c.msgs[r.Level] = append(c.msgs[r.Level], r.Message)
	return nil
}

func (c *levelCounter) get(l slog.Level) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs[l]...)
}

// TestUnusableBootstrapWarnsOnce: bootstrap nodes that cannot be used are
// resolved again at every lookup (offline: every 30 s, per torrent), but
// each is warned about once; the retries are debug lines.
func TestUnusableBootstrapWarnsOnce(t *testing.T) {
	h := &levelCounter{}
	// Both fail without a packet: no port, and a port name that
	// /etc/services does not know.
	n, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: []string{"127.0.0.1", "127.0.0.1:no-such-service"}, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for range 5 {
		if seeds := n.resolve(context.Background(), n.cfg.Bootstrap); len(seeds) != 0 {
			t.Fatalf("resolved %v", seeds)
		}
	}
	if w := h.get(slog.LevelWarn); len(w) != 2 {
		t.Errorf("%d warnings for 2 unusable nodes resolved 5 times, want 2: %q", len(w), w)
	}
	if d := h.get(slog.LevelDebug); len(d) < 8 {
		t.Errorf("%d debug lines for the 8 retries: %q", len(d), d)
	}
}

func TestResolveLogStateChanges(t *testing.T) {
	h := &levelCounter{}
	log := slog.New(h)
	var r resolveLog
	boom := errors.New("no network")
	r.failed(log, "cannot resolve DHT bootstrap node", "router.example:6881", boom)
	r.failed(log, "cannot resolve DHT bootstrap node", "router.example:6881", boom)
	r.resolved(log, "router.example:6881")
	r.resolved(log, "router.example:6881")
	r.failed(log, "cannot resolve DHT bootstrap node", "router.example:6881", boom)
	w := h.get(slog.LevelWarn)
	if len(w) != 3 || !strings.HasPrefix(w[0], "cannot resolve") || !strings.Contains(w[1], "resolves again") || !strings.HasPrefix(w[2], "cannot resolve") {
		t.Errorf("warnings %q, want: cannot resolve, resolves again, cannot resolve", w)
	}
}

// TestEmptyNodeResolvesOncePerMinute: lookups on an empty table start
// from the bootstrap nodes, resolved once and reused (not once per
// lookup), and a node and its sibling of the other family warn once
// between them about a name that cannot be used.
func TestEmptyNodeResolvesOncePerMinute(t *testing.T) {
	h := &levelCounter{}
	boot := []string{"127.0.0.1"} // no port: fails without a packet
	n4, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: boot, Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	defer n4.Close()
	n6, err := New(Config{Addr: "[::1]:0", Bootstrap: boot, Logger: slog.New(h), Sibling: n4})
	if err != nil {
		t.Skipf("no IPv6 loopback here (%v): the IPv6 sibling cannot be tested", err)
	}
	defer n6.Close()
	for range 5 {
		for _, n := range []*Node{n4, n6} {
			if _, err := n.GetPeers(context.Background(), RandomID()); err == nil {
				t.Fatal("a lookup with no node to ask succeeded")
			}
		}
	}
	count := func(l slog.Level) int {
		c := 0
		for _, m := range h.get(l) {
			if strings.HasPrefix(m, "ignoring DHT bootstrap node") {
				c++
			}
		}
		return c
	}
	if w, d := count(slog.LevelWarn), count(slog.LevelDebug); w != 1 || d != 1 {
		t.Errorf("10 lookups of two nodes said the bootstrap node is unusable %d times as a warning and %d as debug, want once each (once per node)", w, d)
	}
}
