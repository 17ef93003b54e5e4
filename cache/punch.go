package cache

import (
	"slices"
	"sync"
	"sync/atomic"
)

// headroomBytes is how much a reservation evicts ahead of need, when
// pieces nobody wants allow, so that the punch worker frees the room
// before the next reservations need it, in few large punches (see
// punchQueue.batch); headroomPieces is the least it evicts ahead, in
// pieces, when they are bigger.
const (
	headroomBytes  = 8 << 20
	headroomPieces = 4
)

// maxPunchBatch bounds the holes the punch worker lets pile up: a punch holds
// the file's lock for as long as it takes, and beyond a few MiB a larger
// one saves little per byte.
const maxPunchBatch = 4 << 20

// headroom is what a reservation evicts ahead of need under budget:
// headroomBytes, or headroomPieces pieces of biggest bytes if that is
// more, but no more than an eighth of the budget, so a small budget keeps
// most of its pieces (one of fewer than eight pieces waits for the
// punches of its own evictions).
func headroom(budget, biggest int64) int64 {
	if budget/8 < biggest {
		return 0
	}
	n := max(headroomBytes/biggest, headroomPieces)
	return min(n*biggest, budget/8/biggest*biggest)
}

// punchQueue holds the holes evictions and drops left to the punch
// worker, so that a Reserve does not wait for fallocate calls (half a
// millisecond to several on ext4 for a range on disk, which, mounted
// with discard and without a journal, it discards at once).
// Before its first byte is written, a reserved piece waits for the queued
// holes over its blocks and for enough of the queue that the bytes
// charged plus the holes still queued fit the budget (Cache.reserve,
// startWrite), so the disk never holds more than the budget.
type punchQueue struct {
	mu   sync.Mutex
	cond *sync.Cond // on mu: holes were queued or punched, or the queue closed
	// holes are queued in order; the first taken of them are being
	// punched right now and stay listed until they are done.
	holes []queuedHole
	taken int
	bytes int64 // bytes of holes listed
	// max is the headroom a reservation evicts ahead (headroom).
	max int64
	// batch is what the worker lets pile up before it punches, half of
	// max but at most maxPunchBatch, unless a caller waits for it or the
	// queue closes: each punch holds the file's lock, which the writes
	// of new pieces to the same file wait for, and much of its cost is
	// per call (on ext4 without a journal, mounted with discard, it also
	// waits for the disk to discard the range), so a few large punches
	// keep the writers waiting less than many small ones.
	batch  int64
	last   uint64        // sequence number of the last hole queued
	done   atomic.Uint64 // every hole numbered up to done is punched
	closed bool
	exited chan struct{}
	// waiters counts the callers waiting in wait, for whom the worker
	// punches without waiting for a batch; stall, if set, is called by
	// the worker before each batch, for tests.
	waiters int
	stall   func()
	// calls counts the fallocate calls of the worker, for benchmarks.
	calls atomic.Int64
}

type queuedHole struct {
	hole
	seq uint64
}

func (q *punchQueue) init(max int64) {
	q.cond = sync.NewCond(&q.mu)
	q.max = max
	q.batch = min(max/2, maxPunchBatch)
	q.exited = make(chan struct{})
}

// overlapLocked returns the highest sequence number of the queued holes
// over file's range [off, off+n), or 0. Called with q.mu held.
func (q *punchQueue) overlapLocked(file int, off, n int64) uint64 {
	var seq uint64
	for _, h := range q.holes {
		if h.file == file && h.off < off+n && off < h.off+h.n {
			seq = max(seq, h.seq)
		}
	}
	return seq
}

// wait returns once every hole numbered up to seq is punched, or the
// worker has stopped with nothing left queued (holes queued after that
// are punched at once, never numbered).
func (q *punchQueue) wait(seq uint64) {
	if q.done.Load() >= seq {
		return
	}
	q.mu.Lock()
	for q.done.Load() < seq && !(q.closed && len(q.holes) == 0) {
		q.waiters++
		if q.waiters == 1 {
			// The worker punches at once for a waiter; with one
			// waiting already it knows, and waking the other
			// waiters would only have them wake each other.
			q.cond.Broadcast()
		}
		q.cond.Wait()
		q.waiters--
	}
	q.mu.Unlock()
}

// drain returns once every hole queued so far is punched.
func (q *punchQueue) drain() {
	q.mu.Lock()
	last := q.last
	q.mu.Unlock()
	q.wait(last)
}

// seqFreeingLocked returns the sequence number of the queued hole whose
// punching, with every hole before it, frees at least n bytes of the
// queue, counting extra: holes about to be queued after the listed ones
// (numbered from q.last+1 on, as queuePunch will). It returns 0 when
// nothing needs to be punched. Called with q.mu held.
func (q *punchQueue) seqFreeingLocked(n int64, extra []hole) uint64 {
	if n <= 0 {
		return 0
	}
	for _, h := range q.holes {
		if n -= h.n; n <= 0 {
			return h.seq
		}
	}
	seq := q.last
	for _, h := range extra {
		seq++
		if n -= h.n; n <= 0 {
			break
		}
	}
	return seq
}

// queuedLocked returns the bytes of holes listed plus those of extra.
// Called with q.mu held.
func (q *punchQueue) queuedLocked(extra []hole) int64 {
	n := q.bytes
	for _, h := range extra {
		n += h.n
	}
	return n
}

// queuePunch hands holes to the punch worker, or punches them at once
// once the worker has stopped. Called
// with allocMu held and mu not: reserve makes a piece present only under
// allocMu and checks then for queued holes over it (awaitHolesLocked), so
// every hole it must wait for is already listed.
func (c *Cache) queuePunch(holes []hole) {
	if len(holes) == 0 {
		return
	}
	q := &c.punchQ
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		c.punch(holes)
		return
	}
	for _, h := range holes {
		q.last++
		q.holes = append(q.holes, queuedHole{hole: h, seq: q.last})
		q.bytes += h.n
	}
	q.cond.Broadcast()
	q.mu.Unlock()
}

// awaitHolesLocked records in piece p, which reserve just made present,
// the holes of the punch queue to wait for before its data is written:
// those queued over its blocks, and, if room >= 0, enough of the queue,
// counting extra (the holes of this reservation's evictions, queued
// next), that at most room bytes of holes remain. Called with allocMu and
// mu held, before extra is queued.
func (c *Cache) awaitHolesLocked(p int, room int64, extra []hole) {
	q := &c.punchQ
	q.mu.Lock()
	defer q.mu.Unlock()
	var seq uint64
	if len(q.holes) > 0 {
		bs := c.blockSize
		for _, s := range c.info.PieceSpans(p) {
			start, end := roundDown(s.Offset, bs), roundUp(s.Offset+s.Length, bs)
			seq = max(seq, q.overlapLocked(s.File, start, end-start))
		}
	}
	if room >= 0 && !q.closed {
		seq = max(seq, q.seqFreeingLocked(q.queuedLocked(extra)-room, extra))
	}
	c.pieces[p].punchWait = seq
}

// puncher is the punch worker: it punches the queued holes in order,
// those of one file that touch merged into one call, once they add up
// to q.batch or somebody waits for them, until the queue is closed and
// empty.
func (c *Cache) puncher() {
	q := &c.punchQ
	defer close(q.exited)
	var batch []hole
	q.mu.Lock()
	for {
		for (len(q.holes) == 0 || (q.bytes < q.batch && q.waiters == 0)) && !q.closed {
			q.cond.Wait()
		}
		if len(q.holes) == 0 {
			q.mu.Unlock()
			return
		}
		q.taken = len(q.holes)
		batch = batch[:0]
		for _, h := range q.holes {
			batch = append(batch, h.hole)
		}
		last := q.holes[q.taken-1].seq
		stall := q.stall
		q.mu.Unlock()
		if stall != nil {
			stall()
		}

		merged := mergeHoles(batch)
		c.punch(merged)
		q.calls.Add(int64(len(merged)))

		q.mu.Lock()
		for _, h := range q.holes[:q.taken] {
			q.bytes -= h.n
		}
		q.holes = slices.Delete(q.holes, 0, q.taken)
		q.taken = 0
		q.done.Store(last)
		q.cond.Broadcast()
	}
}

// stopPuncher waits for the punch worker to empty the queue and stops
// it; holes queued after that are punched at once.
func (c *Cache) stopPuncher() {
	q := &c.punchQ
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	<-q.exited
}

// mergeHoles sorts holes by file and offset and joins those that touch or
// overlap, so that evicting consecutive pieces costs one fallocate.
func mergeHoles(holes []hole) []hole {
	slices.SortFunc(holes, func(a, b hole) int {
		if a.file != b.file {
			return a.file - b.file
		}
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	out := holes[:0]
	for _, h := range holes {
		if n := len(out); n > 0 && out[n-1].file == h.file && h.off <= out[n-1].off+out[n-1].n {
			out[n-1].n = max(out[n-1].n, h.off+h.n-out[n-1].off)
			continue
		}
		out = append(out, h)
	}
	return out
}
