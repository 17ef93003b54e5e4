package tracker

import (
	"net/netip"
	"testing"
)

// TestParseAnnounceResponseIPv6: BEP 3 dictionary peers may name IPv6
// addresses (and IPv4-mapped ones, which become IPv4), and BEP 7 peers6
// adds to compact IPv4 peers.
func TestParseAnnounceResponseIPv6(t *testing.T) {
	r, err := ParseAnnounceResponse([]byte("d5:peersl" +
		"d2:ip3:::14:porti6881ee" +
		"d2:ip15:::ffff:10.0.0.24:porti7ee" +
		"d2:ip11:2001:db8::94:porti0ee" + // port 0: not dialable
		"e6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x50e"))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{
		netip.MustParseAddrPort("[::1]:6881"),
		netip.MustParseAddrPort("10.0.0.2:7"),
		netip.MustParseAddrPort("[::1]:80"),
	}
	if len(r.Peers) != len(want) {
		t.Fatalf("peers %v, want %v", r.Peers, want)
	}
	for i := range want {
		if r.Peers[i] != want[i] {
			t.Fatalf("peers %v, want %v", r.Peers, want)
		}
	}
	if _, err := ParseAnnounceResponse([]byte("d6:peers617:" + string(make([]byte, 17)) + "e")); err == nil {
		t.Error("17 bytes of peers6 parsed")
	}
}

// TestParseUDPAnnounceResponseIPv6: over IPv6, a BEP 15 answer's peers
// are 18 bytes each.
func TestParseUDPAnnounceResponseIPv6(t *testing.T) {
	p := make([]byte, 20, 20+36)
	p[11] = 60 // interval
	p = append(p, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	p = append(p, 0x1a, 0xe1)
	p = append(p, netip.MustParseAddr("::ffff:10.0.0.1").AsSlice()...)
	p = append(p, 0, 1)
	r, err := parseUDPAnnounceResponse(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Peers) != 2 || r.Peers[0] != netip.MustParseAddrPort("[2001:db8::1]:6881") || r.Peers[1] != netip.MustParseAddrPort("10.0.0.1:1") {
		t.Fatalf("peers %v", r.Peers)
	}
	if _, err := parseUDPAnnounceResponse(p[:20+6], true); err == nil {
		t.Error("6 bytes of peers parsed as IPv6")
	}
}

func TestOrderUDPAddrs(t *testing.T) {
	ap := netip.MustParseAddrPort
	a4, b4, a6, b6 := ap("10.0.0.1:1"), ap("10.0.0.2:1"), ap("[2001:db8::1]:1"), ap("[2001:db8::2]:1")
	for _, tc := range []struct {
		in   []netip.AddrPort
		good netip.AddrPort
		want []netip.AddrPort
	}{
		{[]netip.AddrPort{a6, b6, a4, b4}, netip.AddrPort{}, []netip.AddrPort{a6, a4, b6, b4}},
		{[]netip.AddrPort{a4, b4, a6}, netip.AddrPort{}, []netip.AddrPort{a4, a6, b4}},
		{[]netip.AddrPort{a6, a4, a6}, a4, []netip.AddrPort{a4, a6}},
		{[]netip.AddrPort{a6, b6, a4, b4, ap("10.0.0.3:1")}, b4, []netip.AddrPort{b4, a6, a4, b6}},
	} {
		got := orderUDPAddrs(tc.in, tc.good)
		if len(got) != len(tc.want) {
			t.Errorf("%v (good %v): %v, want %v", tc.in, tc.good, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v (good %v): %v, want %v", tc.in, tc.good, got, tc.want)
				break
			}
		}
	}
}
