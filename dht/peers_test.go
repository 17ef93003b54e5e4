package dht

import (
	"net/netip"
	"testing"
	"time"
)

// TestPeerStoreRefreshOutlivesFirstExpiry: a peer announced again lives
// peerTTL from its last announce; the queue entry of its first announce
// must not take it away.
func TestPeerStoreRefreshOutlivesFirstExpiry(t *testing.T) {
	s := newPeerStore()
	now := time.Now()
	ih := RandomID()
	p := netip.MustParseAddrPort("192.0.2.1:6881")
	q := netip.MustParseAddrPort("192.0.2.2:6881")
	s.add(ih, p, now)
	s.add(ih, q, now)
	s.add(ih, p, now.Add(peerTTL/2)) // refresh p only
	s.expire(now.Add(peerTTL))
	if got := s.get(ih, false, maxValues, now.Add(peerTTL)); len(got) != 1 || got[0] != p {
		t.Fatalf("after the first expiry get = %v; want only the refreshed %v", got, p)
	}
	if s.count != 1 {
		t.Errorf("store counts %d peers; want 1", s.count)
	}
	s.expire(now.Add(peerTTL/2 + peerTTL))
	if len(s.m) != 0 || s.count != 0 || len(s.queue)-s.head != 0 {
		t.Errorf("after every expiry: %d info-hashes, count %d, %d queued; want none", len(s.m), s.count, len(s.queue)-s.head)
	}
}

// TestPeerStoreCaps: a full store refuses new peers and new info-hashes
// but takes refreshes, and takes new ones again once peers expired; an
// announce alone (no housekeeping) is enough to expire them.
func TestPeerStoreCaps(t *testing.T) {
	s := newPeerStore()
	now := time.Now()
	keys := fillPeerStore(s, netip.MustParseAddrPort("192.0.2.1:1"), now, 0)
	if len(s.m) != maxKeys || s.count != maxPeers {
		t.Fatalf("filled store holds %d info-hashes and %d peers; want %d and %d", len(s.m), s.count, maxKeys, maxPeers)
	}
	later := now.Add(time.Minute)
	newPeer := netip.MustParseAddrPort("198.51.100.1:1")
	if s.add(keys[0], newPeer, later) {
		t.Error("a store at maxPeers took a new peer")
	}
	if s.add(RandomID(), newPeer, later) {
		t.Error("a store at maxKeys took a new info-hash")
	}
	if !s.add(keys[0], netip.MustParseAddrPort("192.0.2.1:1"), later) {
		t.Error("a full store refused a refresh")
	}
	if s.count != maxPeers || len(s.m) != maxKeys {
		t.Fatalf("after refusals: %d peers in %d info-hashes", s.count, len(s.m))
	}
	// Every peer but the refreshed one has expired.
	expired := now.Add(peerTTL)
	fresh := RandomID()
	if !s.add(fresh, newPeer, expired) {
		t.Fatal("a store whose peers expired refused a new info-hash")
	}
	if s.count != 2 || len(s.m) != 2 {
		t.Errorf("after expiry: %d peers in %d info-hashes; want 2 in 2", s.count, len(s.m))
	}
	if got := s.get(keys[1], false, maxValues, expired); len(got) != 0 {
		t.Errorf("expired info-hash still has peers %v", got)
	}

	// One info-hash holds at most maxPeersPerKey peers.
	s = newPeerStore()
	ih := RandomID()
	for i := range maxPeersPerKey + 10 {
		s.add(ih, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i+1)), now)
	}
	if len(s.m[ih]) != maxPeersPerKey || s.count != maxPeersPerKey {
		t.Errorf("store holds %d peers (count %d) for one info-hash; cap is %d", len(s.m[ih]), s.count, maxPeersPerKey)
	}
}

// TestPeerStoreQueueBounded: a flood of refreshes of the same peers,
// which leaves a stale queue entry each time, keeps the queue within
// twice the store (plus a little), and expiry still ends with an empty
// store.
func TestPeerStoreQueueBounded(t *testing.T) {
	s := newPeerStore()
	now := time.Now()
	ih := RandomID()
	peers := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:1"), netip.MustParseAddrPort("192.0.2.2:1")}
	limit := 2*len(peers) + 64 + 1
	for i := range 10000 {
		now = now.Add(time.Millisecond)
		s.add(ih, peers[i%len(peers)], now)
		if q := len(s.queue) - s.head; q > limit {
			t.Fatalf("after %d refreshes the queue holds %d entries for %d peers; want at most %d", i+1, q, s.count, limit)
		}
	}
	if cap(s.queue) > 4*limit {
		t.Errorf("queue capacity %d for %d peers", cap(s.queue), s.count)
	}
	s.expire(now.Add(peerTTL))
	if len(s.m) != 0 || s.count != 0 {
		t.Errorf("after expiry: %d info-hashes, count %d", len(s.m), s.count)
	}
}
