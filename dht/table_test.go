package dht

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestRandomIDInBucket(t *testing.T) {
	self := RandomID()
	for prefix := range 160 {
		for range 4 {
			if got := commonPrefixLen(self, randomIDInBucket(self, prefix)); got != prefix {
				t.Fatalf("randomIDInBucket(self, %d) shares %d bits with self", prefix, got)
			}
		}
	}
}

// idAt returns an ID in bucket prefix of self's table, told apart by k.
func idAt(self ID, prefix int, k byte) ID {
	id := randomIDInBucket(self, prefix)
	id[19] = k
	return id
}

func addrN(i int) netip.AddrPort {
	return netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", 10000+i))
}

func TestTableBucketFillsThenReplaces(t *testing.T) {
	self := ID{}
	tb := newTable(self)
	now := time.Now()
	var first []NodeInfo
	for i := range bucketSize {
		n := NodeInfo{ID: idAt(self, 0, byte(i)), Addr: addrN(i)}
		first = append(first, n)
		tb.seen(n, true, now)
	}
	// A full bucket of good nodes: a newcomer that answered waits as a
	// replacement; one that only queried us is not kept.
	extra := NodeInfo{ID: idAt(self, 0, 100), Addr: addrN(100)}
	tb.seen(extra, true, now)
	tb.seen(NodeInfo{ID: idAt(self, 0, 101), Addr: addrN(101)}, false, now)
	if got := len(tb.all()); got != bucketSize {
		t.Fatalf("table holds %d nodes; want %d", got, bucketSize)
	}
	if len(tb.buckets[0].replacements) != 1 {
		t.Fatalf("replacements = %d; want 1", len(tb.buckets[0].replacements))
	}
	// A node that fails maxFailures times gives its place to it.
	for range maxFailures {
		tb.failed(first[3].ID, first[3].Addr)
	}
	all := tb.all()
	has := func(id ID) bool {
		for _, n := range all {
			if n.ID == id {
				return true
			}
		}
		return false
	}
	if has(first[3].ID) || !has(extra.ID) {
		t.Errorf("after node 3 went bad the table is %v; want the replacement in its place", all)
	}
	// No node may take over a live node's ID from another address.
	tb.seen(NodeInfo{ID: first[0].ID, Addr: addrN(999)}, true, now)
	for _, n := range tb.all() {
		if n.ID == first[0].ID && n.Addr != first[0].Addr {
			t.Errorf("node %v moved to %v", first[0].ID, n.Addr)
		}
	}
	// Our own ID never enters the table.
	tb.seen(NodeInfo{ID: self, Addr: addrN(7)}, true, now)
	if got := len(tb.all()); got != bucketSize {
		t.Errorf("table holds %d nodes after seeing itself", got)
	}
}

func TestTableClosestAndLiveness(t *testing.T) {
	self := RandomID()
	tb := newTable(self)
	now := time.Now()
	for p := range 20 {
		for k := range 3 {
			tb.seen(NodeInfo{ID: idAt(self, p, byte(k)), Addr: addrN(p*10 + k)}, true, now)
		}
	}
	target := RandomID()
	got := tb.closest(target, bucketSize)
	if len(got) != bucketSize {
		t.Fatalf("closest returned %d nodes", len(got))
	}
	for i := 1; i < len(got); i++ {
		if closer(target, got[i].ID, got[i-1].ID) {
			t.Fatalf("closest is not sorted by distance at %d", i)
		}
	}
	// Every other node is farther than the last one returned.
	for _, n := range tb.all() {
		if closer(target, n.ID, got[len(got)-1].ID) && !containsNode(got, n) {
			t.Fatalf("%v is closer than nodes returned", n)
		}
	}
	if q := tb.questionable(now.Add(time.Minute)); len(q) != 0 {
		t.Errorf("%d nodes questionable a minute after they answered", len(q))
	}
	if q := tb.questionable(now.Add(goodFor + time.Minute)); len(q) != 60 {
		t.Errorf("%d nodes questionable after %v; want all 60", len(q), goodFor)
	}
	stale := tb.stale(now.Add(goodFor + time.Minute))
	if len(stale) != 21 || stale[20] != 20 {
		t.Errorf("stale buckets = %v; want 0..19 and the next empty one, 20", stale)
	}
}

func containsNode(l []NodeInfo, n NodeInfo) bool {
	for _, x := range l {
		if x == n {
			return true
		}
	}
	return false
}

func TestTokenRotation(t *testing.T) {
	now := time.Now()
	tk := newTokens(now)
	ip := netip.MustParseAddr("192.0.2.7")
	tok := tk.issue(ip, now)
	if !tk.valid(tok, ip, now) {
		t.Fatal("fresh token invalid")
	}
	if tk.valid(tok, netip.MustParseAddr("192.0.2.8"), now) {
		t.Error("token valid for another IP")
	}
	if !tk.valid(tok, ip, now.Add(tokenRotation+time.Second)) {
		t.Error("token invalid after one rotation; the previous secret must still count")
	}
	if tk.issue(ip, now.Add(tokenRotation+time.Second)) == tok {
		t.Error("token unchanged after a rotation")
	}
	if tk.valid(tok, ip, now.Add(2*tokenRotation+time.Second)) {
		t.Error("token valid after two rotations")
	}
}

func TestPeerStoreExpiry(t *testing.T) {
	s := newPeerStore()
	now := time.Now()
	ih := RandomID()
	p := netip.MustParseAddrPort("192.0.2.1:6881")
	s.add(ih, p, now)
	if got := s.get(ih, false, maxValues, now.Add(peerTTL-time.Second)); len(got) != 1 || got[0] != p {
		t.Errorf("before expiry get = %v", got)
	}
	if got := s.get(ih, false, maxValues, now.Add(peerTTL)); len(got) != 0 {
		t.Errorf("after expiry get = %v", got)
	}
	s.expire(now.Add(peerTTL))
	if len(s.m) != 0 {
		t.Errorf("expire left %d info-hashes", len(s.m))
	}
	for i := range maxPeersPerKey + 10 {
		s.add(ih, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(i+1)), now)
	}
	if len(s.m[ih]) != maxPeersPerKey {
		t.Errorf("store holds %d peers for one info-hash; cap is %d", len(s.m[ih]), maxPeersPerKey)
	}
}
