package dht

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// TestEmptyNodeLookupsWaitUnderTheirOwnContext: while one lookup on an
// empty table waits for a slow DNS answer about the bootstrap nodes,
// another lookup gives up when its own context ends, not when the DNS
// answers; once it has answered, later lookups reuse the answer.
func TestEmptyNodeLookupsWaitUnderTheirOwnContext(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var calls atomic.Int32
	slow := func(ctx context.Context, host string) ([]netip.Addr, error) {
		calls.Add(1)
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// Port 1 on loopback: nothing answers, and no packet leaves.
	n, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: []string{"slow.test:1"}, QueryTimeout: 100 * time.Millisecond, lookupIP: slow})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	first := make(chan struct{})
	go func() {
		defer close(first)
		n.GetPeers(context.Background(), RandomID())
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first lookup never asked DNS")
	}
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan struct{})
	go func() {
		defer close(second)
		n.GetPeers(ctx, RandomID())
	}()
	cancel()
	select {
	case <-second:
	case <-time.After(10 * time.Second):
		t.Fatal("a lookup whose context ended still waits for another's DNS answer")
	}
	close(release)
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the first lookup did not end once DNS answered")
	}
	n.GetPeers(context.Background(), RandomID())
	if got := calls.Load(); got != 1 {
		t.Fatalf("%d DNS lookups, want the first one's alone", got)
	}
}
