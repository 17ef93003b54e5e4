package fetch

import (
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// pexCandidate reports the source of tor's candidate addr, and whether it
// is known at all.
func pexCandidate(tor *Torrent, addr string) (string, bool) {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	c := tor.candidates[netip.MustParseAddrPort(addr)]
	if c == nil {
		return "", false
	}
	return c.source, true
}

// connectedTo reports whether tor has a connection to the client with id.
func connectedTo(tor *Torrent, id [20]byte) bool {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	for p := range tor.peers {
		if p.id == id {
			return true
		}
	}
	return false
}

// TestPEXIntroducesPeers: A and B know only S; S tells each of the other,
// and they connect.
func TestPEXIntroducesPeers(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	s := newTestClient(t, Config{})
	addTorrent(t, s, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	sAddr := s.Addr().String()
	// Not downloading: A and B stay connected to S without finishing.
	a := newTestClient(t, Config{})
	ta := addTorrent(t, a, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{sAddr}})
	b := newTestClient(t, Config{})
	tb := addTorrent(t, b, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{sAddr}})

	deadline := time.Now().Add(20 * time.Second)
	for {
		srcA, okA := pexCandidate(ta, b.Addr().String())
		srcB, okB := pexCandidate(tb, a.Addr().String())
		if okA && okB && connectedTo(ta, b.PeerID()) && connectedTo(tb, a.PeerID()) {
			if srcA != "pex" || srcB != "pex" {
				t.Fatalf("candidate sources %q and %q, want pex", srcA, srcB)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A and B did not meet through PEX: A knows B %v (%q), B knows A %v (%q)", okA, srcA, okB, srcB)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nobody learns its own address as a candidate.
	if _, ok := pexCandidate(ta, a.Addr().String()); ok {
		t.Error("A holds its own address as a candidate")
	}
}

// TestPEXNotForPrivate: a private torrent neither announces nor accepts
// ut_pex, so A never hears of B.
func TestPEXNotForPrivate(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	mi.Info.Private = true
	s := newTestClient(t, Config{})
	ts := addTorrent(t, s, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	sAddr := s.Addr().String()
	a := newTestClient(t, Config{})
	ta := addTorrent(t, a, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{sAddr}})
	b := newTestClient(t, Config{})
	tb := addTorrent(t, b, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{sAddr}})
	deadline := time.Now().Add(10 * time.Second)
	for !connectedTo(ta, s.PeerID()) || !connectedTo(tb, s.PeerID()) {
		if time.Now().After(deadline) {
			t.Fatal("A and B did not connect to S")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.sendPEX(time.Now()) // what the PEX loop would do, were it running
	time.Sleep(time.Second)
	if _, ok := pexCandidate(ta, b.Addr().String()); ok {
		t.Fatal("A learned of B on a private torrent")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for p := range ts.peers {
		if p.pex.id != 0 {
			t.Fatalf("peer %s announced ut_pex %d on a private torrent", p.addr, p.pex.id)
		}
	}
}

func TestPEXDiff(t *testing.T) {
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	self := ap("10.0.0.1:1")
	current := map[netip.AddrPort]byte{
		self:                  0,
		ap("10.0.0.2:2"):      wire.PEXSeed,
		ap("[2001:db8::1]:3"): wire.PEXReachable,
	}
	var s peerPEX
	msg, n := s.diff(current, self)
	if n != 2 || len(msg.Added) != 6 || msg.AddedF != string([]byte{wire.PEXSeed}) ||
		len(msg.Added6) != 18 || msg.Added6F != string([]byte{wire.PEXReachable}) || msg.Dropped != "" {
		t.Fatalf("first message: n %d %+v", n, msg)
	}
	if _, n := s.diff(current, self); n != 0 {
		t.Fatalf("nothing changed but %d addresses sent", n)
	}
	delete(current, ap("10.0.0.2:2"))
	for i := range 120 {
		current[netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), 9)] = 0
	}
	msg, n = s.diff(current, self)
	added, err := wire.ParseCompactPeers(msg.Added, 4)
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := wire.ParseCompactPeers(msg.Dropped, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != pexMaxAdded || len(msg.AddedF) != pexMaxAdded || n != pexMaxAdded+1 ||
		len(dropped) != 1 || dropped[0] != ap("10.0.0.2:2") {
		t.Fatalf("second message: n %d, %d added, dropped %v", n, len(added), dropped)
	}
	// The rest follows in later messages, each capped.
	total := len(added)
	for range 3 {
		msg, _ := s.diff(current, self)
		more, _ := wire.ParseCompactPeers(msg.Added, 4)
		total += len(more)
	}
	if total != 120 {
		t.Fatalf("%d of 120 new peers sent", total)
	}
}

func TestPEXReceiveRate(t *testing.T) {
	var s peerPEX
	now := time.Now()
	for i := range pexBurst {
		if !s.allow(now) {
			t.Fatalf("message %d of the burst refused", i)
		}
	}
	if s.allow(now.Add(time.Second)) {
		t.Fatal("message beyond the burst accepted")
	}
	if !s.allow(now.Add(pexRecvEvery + time.Second)) {
		t.Fatal("message after the interval refused")
	}
}

// TestPEXReceiveBounds: a flood of addresses is capped per message, the
// torrent's candidates are capped overall, and our own address is
// ignored.
func TestPEXReceiveBounds(t *testing.T) {
	t.Parallel()
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	p := &peer{t: tor, addr: "test"}
	own := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), c.listenPort())
	msgs := 0
	send := func(addrs []netip.AddrPort) {
		t.Helper()
		msg := wire.PEX{}
		msg.Added, msg.Added6 = wire.CompactPeers(addrs)
		b, err := msg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		p.pex.tokens, p.pex.refilled = pexBurst, time.Now() // past the rate limit
		if err := p.onPEX(b); err != nil {
			t.Fatal(err)
		}
		msgs++
	}
	var addrs []netip.AddrPort
	addrs = append(addrs, own)
	for i := range 500 {
		addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 2, byte(i >> 8), byte(i)}), 9))
	}
	send(addrs)
	tor.mu.Lock()
	n := len(tor.candidates)
	_, self := tor.candidates[own]
	tor.mu.Unlock()
	if self {
		t.Error("our own address became a candidate")
	}
	if n != pexMaxAccept-1 {
		t.Errorf("%d candidates from one message of 501, want %d", n, pexMaxAccept-1)
	}
	for k := range 30 {
		addrs = addrs[:0]
		for i := range pexMaxAccept {
			addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, byte(k), byte(i)}), 9))
		}
		send(addrs)
	}
	tor.mu.Lock()
	n = len(tor.candidates)
	tor.mu.Unlock()
	if n > maxCandidates {
		t.Fatalf("%d candidates after %d messages, cap %d", n, msgs, maxCandidates)
	}
	if err := p.onPEX([]byte("d5:added")); err == nil {
		t.Fatal("a truncated message was accepted")
	}
}

// TestPEXIPv6AndFlags: added6 and its flags are taken like added (0x01,
// prefers encryption, and 0x04, uTP, kept on the candidate, also when a
// later message adds them to a known address), and a dropped IPv6 peer
// goes out in dropped6.
func TestPEXIPv6AndFlags(t *testing.T) {
	t.Parallel()
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	p := &peer{t: tor, addr: "test"}
	ap := netip.MustParseAddrPort
	// Loopback only: the torrent dials its candidates (and is refused).
	a6, b6, a4 := ap("[::1]:9"), ap("[::1]:10"), ap("127.0.0.7:11")
	send := func(added4, added6 []netip.AddrPort, f4, f6 []byte) {
		t.Helper()
		var msg wire.PEX
		msg.Added, _ = wire.CompactPeers(added4)
		_, msg.Added6 = wire.CompactPeers(added6)
		msg.AddedF, msg.Added6F = string(f4), string(f6)
		b, err := msg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		p.pex.tokens, p.pex.refilled = pexBurst, time.Now()
		if err := p.onPEX(b); err != nil {
			t.Fatal(err)
		}
	}
	send([]netip.AddrPort{a4}, []netip.AddrPort{a6, b6}, []byte{wire.PEXEncryption}, []byte{wire.PEXEncryption | wire.PEXUTP, 0})
	send(nil, []netip.AddrPort{b6}, nil, []byte{wire.PEXEncryption})
	tor.mu.Lock()
	got := map[netip.AddrPort]byte{}
	for a, cand := range tor.candidates {
		got[a] = cand.pexFlags
	}
	tor.mu.Unlock()
	want := map[netip.AddrPort]byte{a6: wire.PEXEncryption | wire.PEXUTP, b6: wire.PEXEncryption, a4: wire.PEXEncryption}
	if len(got) != len(want) {
		t.Fatalf("candidates %v, want %v", got, want)
	}
	for a, f := range want {
		if got[a] != f {
			t.Fatalf("candidates %v, want %v", got, want)
		}
	}

	var s peerPEX
	s.diff(map[netip.AddrPort]byte{a6: 0, a4: 0}, netip.AddrPort{})
	msg, n := s.diff(map[netip.AddrPort]byte{a4: 0}, netip.AddrPort{})
	dropped, err := wire.ParseCompactPeers(msg.Dropped6, 16)
	if err != nil || n != 1 || len(dropped) != 1 || dropped[0] != a6 || msg.Dropped != "" {
		t.Fatalf("after dropping %v: n %d, dropped6 %v (%v), dropped %q", a6, n, dropped, err, msg.Dropped)
	}
}
