package fetch

import "time"

// A peer answers our requests more or less in the order we sent them. A
// block still missing well after blocks we asked for later have arrived
// is not coming: the peer dropped the request (Transmission drops those
// beyond its queue and rejects them only with its next batch of messages,
// 8 to 10 s later; a peer without the fast extension drops them
// silently). Such a block is asked for again after a short grace instead
// of waiting for a reject or for the snub timeout, which at the end of a
// download is the whole wait.
//
// "More or less": libtorrent reads blocks on several disk threads and
// sends a block a few hundred requests early, or late by tens of
// milliseconds. So the grace is a time, not a count of blocks, and grows
// with the longest such lag each peer has shown.

// skipGrace is the shortest wait for a block after a later one arrived.
const skipGrace = 250 * time.Millisecond

// maxSkipGrace bounds how far a peer's lags stretch the grace.
const maxSkipGrace = 5 * time.Second

// sentRequest is one of our requests to a peer.
type sentRequest struct {
	key    uint64
	seq    int64
	passed int64 // when a block asked for later arrived first (unix nanos); 0 = none yet
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
	lag int64 // the longest a passed-over block took to arrive after all (ns)
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

// answered notes that the peer answered request seq, which the caller has
// removed from reqs, at now (unix nanos): the requests still in flight
// that were sent before it are passed over. It appends to lost those
// overdue (see overdue).
func (s *requestQueue) answered(reqs map[uint64]int64, seq, now int64, lost []uint64) []uint64 {
	end := 0
	for ; end < len(s.q) && s.q[end].seq < seq; end++ {
		if r := &s.q[end]; r.passed == 0 && r.live(reqs) {
			r.passed = now
		}
	}
	if end < len(s.q) && s.q[end].seq == seq && s.q[end].passed != 0 {
		s.lag = max(s.lag, now-s.q[end].passed) // late, not lost
	}
	return s.overdue(reqs, now, lost)
}

// overdue appends to lost the requests in flight that were passed over
// longer than the grace ago at now (unix nanos); they are no longer in
// flight for the queue, and the caller removes them from reqs. It also
// forgets answered requests at the front of the queue.
func (s *requestQueue) overdue(reqs map[uint64]int64, now int64, lost []uint64) []uint64 {
	grace := min(max(int64(skipGrace), 4*s.lag), int64(maxSkipGrace))
	// The requests passed over come before all others in flight.
	for k := range s.q {
		r := &s.q[k]
		if !r.live(reqs) {
			continue
		}
		if r.passed == 0 || now-r.passed <= grace {
			break
		}
		lost = append(lost, r.key)
		r.seq = -1 // no longer live; the order is kept
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
