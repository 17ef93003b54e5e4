package dht

import (
	"net/netip"
	"time"
)

// Peer store limits: announced peers live peerTTL unless announced again;
// the caps bound memory against announce floods.
const (
	peerTTL        = 30 * time.Minute
	maxPeersPerKey = 1000
	maxKeys        = 10000
	// maxValues is how many peers one get_peers reply carries, so it fits
	// in a UDP packet even as IPv6 (50 * 18 bytes).
	maxValues = 50
)

// peerStore remembers peers announced to us, per info-hash. Its owner
// (Node) serializes access.
type peerStore struct {
	m map[ID]map[netip.AddrPort]time.Time // expiry times
}

func newPeerStore() *peerStore { return &peerStore{m: make(map[ID]map[netip.AddrPort]time.Time)} }

// add stores or refreshes a peer; it reports false when a cap refused it.
func (s *peerStore) add(ih ID, ap netip.AddrPort, now time.Time) bool {
	peers := s.m[ih]
	if peers == nil {
		if len(s.m) >= maxKeys {
			s.expire(now)
			if len(s.m) >= maxKeys {
				return false
			}
		}
		peers = make(map[netip.AddrPort]time.Time)
		s.m[ih] = peers
	}
	if _, ok := peers[ap]; !ok && len(peers) >= maxPeersPerKey {
		return false
	}
	peers[ap] = now.Add(peerTTL)
	return true
}

// get returns up to max live peers of ih of the given family (v6 or not);
// map order makes the choice vary between calls.
func (s *peerStore) get(ih ID, v6 bool, max int, now time.Time) []netip.AddrPort {
	var out []netip.AddrPort
	for ap, exp := range s.m[ih] {
		if len(out) >= max {
			break
		}
		if now.Before(exp) && ap.Addr().Is6() == v6 {
			out = append(out, ap)
		}
	}
	return out
}

// expire drops peers whose time is up.
func (s *peerStore) expire(now time.Time) {
	for ih, peers := range s.m {
		for ap, exp := range peers {
			if !now.Before(exp) {
				delete(peers, ap)
			}
		}
		if len(peers) == 0 {
			delete(s.m, ih)
		}
	}
}
