package fetch

import "testing"

// TestResolveKeepsGivenAddresses: an address from a tracker, the DHT or
// a peer is forgotten after maxResolveFails failed dials; one the user
// gave (x.pe, --peer) stays, so a seeder started late is still found.
func TestResolveKeepsGivenAddresses(t *testing.T) {
	r := &resolver{cands: map[string]*resolveCand{}}
	r.addGiven([]string{"127.0.0.1:1"})
	r.addAddrs([]string{"127.0.0.1:2", "127.0.0.1:1"})
	for range 3 * maxResolveFails {
		r.failed("127.0.0.1:1", "connection refused", false)
		r.failed("127.0.0.1:2", "connection refused", false)
	}
	if c := r.cands["127.0.0.1:1"]; c.state == candGone {
		t.Errorf("the given address was forgotten after %d failures", c.fails)
	}
	if c := r.cands["127.0.0.1:2"]; c.state != candGone {
		t.Errorf("a found address is still tried after %d failures", c.fails)
	}
	r.failed("127.0.0.1:1", "it is us", true)
	if c := r.cands["127.0.0.1:1"]; c.state != candGone || !c.banned {
		t.Error("our own address, given or not, must be dropped for good")
	}
}
