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
	// maxPeers caps the peers of all info-hashes together: some tens of
	// MB with the expiry queue.
	maxPeers = 100000
	// maxValues is how many peers one get_peers reply carries, so it fits
	// in a UDP packet even as IPv6 (50 * 18 bytes).
	maxValues = 50
)

// peerStore remembers peers announced to us, per info-hash. Its owner
// (Node) serializes access.
//
// Expiry is incremental: every store or refresh also goes at the back of
// a queue, which is in expiry order since every peer lives peerTTL, so
// expiring costs only the peers that expired, not a scan of the store. A
// refresh leaves its older queue entry behind as a stale one (its expiry
// no longer matches the store's), skipped when it reaches the front; the
// queue is compacted when stale entries outnumber the live ones, so it
// stays under twice the store's size.
type peerStore struct {
	m     map[ID]map[netip.AddrPort]time.Time // expiry times
	count int                                 // peers in m
	queue []queued                            // from queue[head] on, in expiry order
	head  int
}

type queued struct {
	ih  ID
	ap  netip.AddrPort
	exp time.Time
}

func newPeerStore() *peerStore { return &peerStore{m: make(map[ID]map[netip.AddrPort]time.Time)} }

// add stores or refreshes a peer; it reports false when a cap refused it.
func (s *peerStore) add(ih ID, ap netip.AddrPort, now time.Time) bool {
	s.expire(now)
	peers := s.m[ih]
	_, known := peers[ap]
	if !known && (s.count >= maxPeers || len(peers) >= maxPeersPerKey || peers == nil && len(s.m) >= maxKeys) {
		return false
	}
	if peers == nil {
		peers = make(map[netip.AddrPort]time.Time)
		s.m[ih] = peers
	}
	if !known {
		s.count++
	}
	exp := now.Add(peerTTL)
	peers[ap] = exp
	s.queue = append(s.queue, queued{ih, ap, exp})
	if len(s.queue)-s.head > 2*s.count+64 {
		s.compact()
	}
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

// expire drops the peers whose time is up, from the front of the queue.
// A clock that went back may leave a peer past its time behind a later
// one for a while; get never returns it meanwhile.
func (s *peerStore) expire(now time.Time) {
	for s.head < len(s.queue) {
		q := &s.queue[s.head]
		if now.Before(q.exp) {
			break
		}
		if peers := s.m[q.ih]; peers != nil {
			if exp, ok := peers[q.ap]; ok && exp.Equal(q.exp) {
				delete(peers, q.ap)
				s.count--
				if len(peers) == 0 {
					delete(s.m, q.ih)
				}
			}
		}
		*q = queued{}
		s.head++
	}
	if s.head == len(s.queue) {
		if cap(s.queue) > 1024 {
			s.queue = nil // the flood is over: give its memory back
		}
		s.queue, s.head = s.queue[:0], 0
	} else if s.head > len(s.queue)/2 && s.head > 64 {
		s.queue, s.head = append(s.queue[:0], s.queue[s.head:]...), 0
	}
}

// compact drops the queue's stale entries, keeping its order.
func (s *peerStore) compact() {
	live := s.queue[:0]
	for _, q := range s.queue[s.head:] {
		if exp, ok := s.m[q.ih][q.ap]; ok && exp.Equal(q.exp) {
			live = append(live, q)
		}
	}
	clear(s.queue[len(live):])
	s.queue, s.head = live, 0
}
