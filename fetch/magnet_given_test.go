package fetch

import (
	"net/netip"
	"testing"
)

// TestResolveKeepsGivenAddresses: an address from a tracker, the DHT or
// a peer is forgotten after maxResolveFails failed dials; one the user
// gave (x.pe, --peer) stays, so a seeder started late is still found.
func TestResolveKeepsGivenAddresses(t *testing.T) {
	one, two := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
	r := &resolver{cands: map[netip.AddrPort]*resolveCand{}}
	r.addGiven([]netip.AddrPort{one})
	r.addAddrs([]netip.AddrPort{two, one})
	for range 3 * maxResolveFails {
		r.failed(one, "connection refused", false)
		r.failed(two, "connection refused", false)
	}
	if c := r.cands[one]; c.state == candGone {
		t.Errorf("the given address was forgotten after %d failures", c.fails)
	}
	if c := r.cands[two]; c.state != candGone {
		t.Errorf("a found address is still tried after %d failures", c.fails)
	}
	r.failed(one, "it is us", true)
	if c := r.cands[one]; c.state != candGone || !c.banned {
		t.Error("our own address, given or not, must be dropped for good")
	}
}
