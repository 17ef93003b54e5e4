package dht

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestLookupHandsPeersOverBeforeDeadNode: in a lookup where one node of
// the table never answers, the peers a live node gives reach the caller
// while the dead node's query is still waiting for its reply. The query
// timeout is an hour, so the peers cannot have waited for it; the test
// ends the lookup by cancelling it.
func TestLookupHandsPeersOverBeforeDeadNode(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"GetPeersFunc", "AnnounceFunc"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			live := startNode(t, testConfig("127.0.0.1:0"))
			ih := RandomID()
			peer := netip.MustParseAddrPort("192.0.2.9:6881")
			live.mu.Lock()
			live.peers.add(ih, peer, time.Now())
			live.mu.Unlock()
			dead, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dead.Close() })

			cfg := testConfig("127.0.0.1:0")
			cfg.QueryTimeout = time.Hour
			n := startNode(t, cfg)
			n.mu.Lock()
			n.table.seen(NodeInfo{ID: live.ID(), Addr: live.Addr()}, true, time.Now())
			n.table.seen(NodeInfo{ID: RandomID(), Addr: dead.LocalAddr().(*net.UDPAddr).AddrPort()}, true, time.Now())
			n.mu.Unlock()

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := make(chan []netip.AddrPort, 16)
			found := func(ps []netip.AddrPort) { got <- ps }
			done := make(chan error, 1)
			go func() {
				if method == "GetPeersFunc" {
					done <- n.GetPeersFunc(ctx, ih, found)
				} else {
					done <- n.AnnounceFunc(ctx, ih, 6881, found)
				}
			}()
			select {
			case ps := <-got:
				if !slices.Contains(ps, peer) {
					t.Errorf("first peers handed over: %v; want %v", ps, peer)
				}
			case err := <-done:
				t.Fatalf("the lookup ended (%v) before handing over any peer", err)
			case <-ctx.Done():
				t.Fatal("no peer was handed over while the dead node's query was pending")
			}
			// The dead node was asked, and its query is still pending: the
			// lookup has not ended.
			buf := make([]byte, maxPacket)
			dead.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				k, err := dead.Read(buf)
				if err != nil {
					t.Fatalf("the dead node was never asked: %v", err)
				}
				if bytes.Contains(buf[:k], []byte("9:get_peers")) {
					break
				}
			}
			select {
			case err := <-done:
				t.Fatalf("the lookup ended (%v) with the dead node's query pending", err)
			default:
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled lookup returned %v; want context.Canceled", err)
			}
		})
	}
}
