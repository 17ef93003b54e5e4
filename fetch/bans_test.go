package fetch

import (
	"net"
	"net/netip"
	"testing"
)

// TestBanKeys: a ban applies to a host, an IPv4 address or an IPv6 /64,
// whichever port or address of that /64 the peer comes back from, and
// the candidates the torrent would dial are checked under the same key
// as the connections it bans.
func TestBanKeys(t *testing.T) {
	id := [20]byte{1}
	same := [][2]string{
		{"203.0.113.7:6881", "203.0.113.7:51413"},
		{"[2001:db8:1:2::1]:6881", "[2001:db8:1:2:ffff::9]:6881"},
		{"[::ffff:203.0.113.7]:6881", "203.0.113.7:1"},
	}
	for _, c := range same {
		a, b := netip.MustParseAddrPort(c[0]), netip.MustParseAddrPort(c[1])
		ka := banKey(net.TCPAddrFromAddrPort(a), a, id)
		if kb := dialBanKey(b); ka != kb {
			t.Errorf("a peer banned at %s (%q) would still be dialled at %s (%q)", a, ka, b, kb)
		}
		if kb := banKey(net.TCPAddrFromAddrPort(b), netip.AddrPort{}, [20]byte{2}); ka != kb {
			t.Errorf("a peer banned at %s (%q) is let in from %s (%q)", a, ka, b, kb)
		}
	}
	other := [][2]string{
		{"203.0.113.7:6881", "203.0.113.8:6881"},
		{"[2001:db8:1:2::1]:6881", "[2001:db8:1:3::1]:6881"},
		// A LAN's hosts share its /64; Teredo and NAT64 hosts their
		// prefix.
		{"[fe80::1%eth0]:6881", "[fe80::2%eth0]:6881"},
		{"[fd00:1:2:3::1]:6881", "[fd00:1:2:3::2]:6881"},
		{"[2001:0:4136:e378:8000:63bf:3fff:fdd2]:6881", "[2001:0:4136:e378:8000:63bf:3fff:fdd3]:6881"},
		{"[64:ff9b::cb00:7107]:6881", "[64:ff9b::cb00:7108]:6881"},
	}
	for _, c := range other {
		a, b := netip.MustParseAddrPort(c[0]), netip.MustParseAddrPort(c[1])
		if ka, kb := dialBanKey(a), dialBanKey(b); ka == kb {
			t.Errorf("banning %s would ban %s too (%q)", a, b, ka)
		}
	}
	// On loopback every local peer shares the address: the ban is the
	// dialled address's, or an incoming peer's id.
	dialed := netip.MustParseAddrPort("127.0.0.1:6881")
	remote := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:40000"))
	if k, want := banKey(remote, dialed, id), dialBanKey(dialed); k != want {
		t.Errorf("a loopback peer dialled at %s is banned as %q, checked as %q", dialed, k, want)
	}
	if k := banKey(remote, netip.AddrPort{}, id); k == dialBanKey(dialed) || k == banKey(remote, netip.AddrPort{}, [20]byte{2}) {
		t.Errorf("an incoming loopback peer's ban %q is not its own", k)
	}
}
