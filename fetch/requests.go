package fetch

// Peers answer our requests in the order we sent them. A block that is
// still missing when blocks we asked for after it have arrived is not
// coming: the peer dropped the request (Transmission drops those beyond
// its queue and rejects them only with its next batch of messages, some
// seconds later; a peer without the fast extension drops them silently).
// Such a block is asked for again at once instead of waiting for a reject
// or for the snub timeout, which at the end of a download is the whole
// wait.

// skipLimit is how many blocks asked for after a request must arrive
// before it counts as dropped. More than one, because a peer that reads
// blocks from disk on several threads may send neighbours a little out of
// order; a request given up too early costs one duplicate block.
const skipLimit = 3

// sentRequest is one of our requests to a peer.
type sentRequest struct {
	key   uint64
	seq   int64
	skips int // blocks asked for later that arrived before it
}

// live reports whether the request is still in flight.
func (r *sentRequest) live(reqs map[uint64]int64) bool {
	seq, ok := reqs[r.key]
	return ok && seq == r.seq
}

// requestQueue is our requests to a peer in the order sent, answered or
// not: a request is still in flight while the peer's reqs map holds its
// key with its sequence number. Guarded by t.mu.
type requestQueue struct {
	seq int64
	q   []sentRequest
}

// push records a request for key and returns its sequence number, which
// the caller stores in reqs.
func (s *requestQueue) push(reqs map[uint64]int64, key uint64) int64 {
	if len(s.q) >= 2*len(reqs)+64 {
		// Requests the peer never answered in order (rejected,
		// cancelled) would otherwise pile up: drop them.
		live := s.q[:0]
		for _, r := range s.q {
			if r.live(reqs) {
				live = append(live, r)
			}
		}
		clear(s.q[len(live):])
		s.q = live
	}
	s.seq++
	s.q = append(s.q, sentRequest{key: key, seq: s.seq})
	return s.seq
}

// answered notes that the peer answered request seq and appends to lost
// the keys of the earlier requests still in flight that it has skipped
// skipLimit times, or all of them when nothing asked for after them is
// still in flight: the peer has answered everything after them, and they
// are not coming either (the end of a download). They are no longer in
// flight for the queue; the caller removes them from reqs.
func (s *requestQueue) answered(reqs map[uint64]int64, seq int64, lost []uint64) []uint64 {
	end, skipped := 0, 0
	for ; end < len(s.q) && s.q[end].seq < seq; end++ {
		if r := &s.q[end]; r.live(reqs) {
			r.skips++
			skipped++
		}
	}
	if skipped > 0 {
		last := skipped == len(reqs)
		for k := range end {
			if r := &s.q[k]; r.live(reqs) && (last || r.skips >= skipLimit) {
				lost = append(lost, r.key)
				r.seq = -1 // no longer live; the order is kept
			}
		}
	}
	k := 0
	for k < len(s.q) && !s.q[k].live(reqs) {
		k++
	}
	s.q = s.q[k:]
	return lost
}

// reset forgets every request, e.g. when a choke discarded them all.
func (s *requestQueue) reset() {
	clear(s.q)
	s.q = s.q[:0]
}
