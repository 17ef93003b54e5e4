package cache

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/metainfo"
)

// hole is a block-aligned range of one backing file to free.
type hole struct {
	file   int
	off, n int64
}

// reserve charges piece p to the budget, evicting what the policy lets
// it take (policy.go), and marks it as being written. It does nothing if
// p is no longer missing by the time it gets the locks. The holes of the
// evicted pieces go to the punch worker (punch.go); p's first write waits
// for those queued over its own blocks and for enough of the queue that
// the disk holds no more than the budget once p's data lands
// (awaitHolesLocked, startWrite). The reservation itself never waits for
// the worker: the engine reserves with its own lock held. The user hears
// of the evicted pieces (OnEvict) once the locks are released.
func (c *Cache) reserve(p int) error {
	if c.pool != nil {
		return c.pool.reserve(c, p)
	}
	c.allocMu.Lock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.allocMu.Unlock()
		return ErrClosed
	}
	if c.pieces[p].state != stateMissing {
		c.mu.Unlock()
		c.allocMu.Unlock()
		return nil
	}
	d := c.demand.Load()
	evicted, err := c.makeRoomLocked(c.footprint[p], d, d.limit(p))
	if err == nil {
		// Present before the holes are cut, so that they leave out
		// the edge blocks p shares with the evicted pieces.
		c.pieces[p].state = stateWriting
		c.charge(c.footprint[p])
	}
	holes := c.holesLocked(evicted)
	shrunk := c.shrunk
	if err == nil {
		room := int64(-1) // the queued holes p's data may land on top of
		if !c.keepAll || shrunk {
			room = max(c.budgetLocked()-c.used, 0)
		}
		queued := holes
		if shrunk {
			queued = nil // punched below, before p's data can land
		}
		c.awaitHolesLocked(p, room, queued)
	}
	c.mu.Unlock()
	if shrunk {
		// The disk filled up once: the budget is what it holds, so the
		// room must be free before p's data lands.
		c.punch(holes)
	} else {
		c.queuePunch(holes)
	}
	c.allocMu.Unlock()
	c.tellEvicted(evicted)
	if err != nil {
		return fmt.Errorf("cache: piece %d: %w", p, err)
	}
	return nil
}

// makeRoomLocked evicts pieces of a tier below limit until need more
// bytes fit in the budget, and returns them; their holes are still to
// punch. It evicts nothing when that cannot make room. For a reservation
// it frees the punch queue's worth more if pieces nobody wants allow,
// so that the next reservations find room already punched. Called with
// allocMu and mu held.
func (c *Cache) makeRoomLocked(need int64, d *demand, limit tier) ([]int, error) {
	if c.keepAll && !c.shrunk {
		return nil, nil
	}
	budget := c.budgetLocked()
	if pinned := c.used - c.evictable; pinned+need > budget {
		// Fail before evicting anything: evicting cannot make room.
		return nil, fmt.Errorf("%w: the budget of %s cannot hold %s more while %s is held by pieces being written, verified or read; raise the cache size",
			ErrBudget, bytesize.Format(budget), bytesize.Format(need), bytesize.Format(pinned))
	}
	if roomLeft(c.used, need, c.punchQ.max, budget) {
		return nil, nil
	}
	candidates := func(yield func(int) bool) {
		for q := c.lru.Oldest(); q >= 0; q = c.lru.Newer(q) {
			if c.pieces[q].pins == 0 && !yield(q) {
				return
			}
		}
	}
	footprint := func(q int) int64 { return c.footprint[q] }
	var victims []int
	ok := false
	if need > 0 {
		victims, ok = chooseVictims(candidates, footprint, d, min(limit, tierWindow), c.used+need+c.punchQ.max-budget)
	}
	if !ok {
		victims, ok = chooseVictims(candidates, footprint, d, limit, c.used+need-budget)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the budget of %s cannot hold %s more while readers need the %s held; raise the cache size or lower the readahead",
			ErrBudget, bytesize.Format(budget), bytesize.Format(need), bytesize.Format(c.used))
	}
	for _, q := range victims {
		c.forgetLocked(q)
		c.evictions++
	}
	return victims, nil
}

// tellEvicted gives evicted pieces to the OnEvict function. Called with
// no lock held.
func (c *Cache) tellEvicted(pieces []int) {
	if f := c.onEvict.Load(); f != nil {
		for _, p := range pieces {
			(*f)(p)
		}
	}
}

// forgetLocked makes piece q missing and releases its charge.
func (c *Cache) forgetLocked(q int) {
	switch c.pieces[q].state {
	case stateVerified:
		c.verified--
		c.lruRemove(q)
	case stateUnproven:
		c.unproven--
		c.lruRemove(q)
	case stateMissing:
		return
	}
	c.journal.evicted(q) // before the hole is punched
	c.pieces[q].state = stateMissing
	c.charge(-c.footprint[q])
	c.dirty = true
}

// charge adds delta to the bytes charged, the cache's and its pool's.
// Called with mu held.
func (c *Cache) charge(delta int64) {
	c.used += delta
	if c.inPool {
		c.pool.used.Add(delta)
	}
}

// lruAdd makes p, which is not pinned, the most recently used eviction
// candidate.
func (c *Cache) lruAdd(p int) {
	if !c.lru.Contains(p) {
		c.evictable += c.footprint[p]
	}
	c.lru.Add(p)
	c.stamp(p)
}

// lruTouch makes p, if it is a candidate, the most recently used.
func (c *Cache) lruTouch(p int) {
	if c.lru.Contains(p) {
		c.lru.Touch(p)
		c.stamp(p)
	}
}

// stamp records when p was last used, on the pool's clock, so that the
// pool can merge its members' LRU lists. Called with mu held, so each
// list stays in stamp order.
func (c *Cache) stamp(p int) {
	if c.pool != nil {
		c.stamps[p] = c.pool.clock.Add(1)
	}
}

// lruRemove takes p, which is not pinned, out of the eviction candidates.
func (c *Cache) lruRemove(p int) {
	if c.lru.Remove(p) {
		c.evictable -= c.footprint[p]
	}
}

// trim evicts pieces until the charged bytes fit the budget (a budget
// lowered since the last run, or existing data found on disk).
func (c *Cache) trim() error {
	if c.pool != nil {
		return c.pool.reserve(c, -1)
	}
	c.allocMu.Lock()
	defer c.allocMu.Unlock()
	c.mu.Lock()
	evicted, err := c.makeRoomLocked(0, nil, tierCursor+1)
	holes := c.holesLocked(evicted)
	c.mu.Unlock()
	c.punch(holes)
	return err
}

// drop abandons piece p if it is still in state from (being written,
// verified or proven): its charge is released and its blocks freed. It
// waits for writes to p in flight, WriteBlock calls and queued buffers, so
// none lands after the hole is punched.
// The state check matters: a Discard racing a Verify must not drop the
// piece the Verify is about to make readable.
func (c *Cache) drop(p int, from pieceState) {
	c.allocMu.Lock()
	defer c.allocMu.Unlock()
	c.mu.Lock()
	if c.pieces[p].state != from {
		c.mu.Unlock()
		return
	}
	c.pieces[p].state = stateDropping
	for c.pieces[p].writers > 0 {
		c.changed.Wait()
	}
	pt := c.pieces[p].part
	c.pieces[p].part = nil
	c.forgetLocked(p)
	holes := c.holesLocked([]int{p})
	c.changed.Broadcast()
	c.mu.Unlock()
	if pt != nil {
		// Its queued buffers are abandoned, or land before the hole is
		// queued; allocMu keeps the range from being reserved again
		// meanwhile.
		c.takeOver(pt, false)
		c.putPartial(pt)
	}
	c.queuePunch(holes)
}

// holesLocked returns the blocks to free for pieces that just became
// missing: each stored range rounded out to blocks, minus edge blocks
// still shared with a piece that is present. Called with mu held.
func (c *Cache) holesLocked(pieces []int) []hole {
	if (c.keepAll && !c.shrunk) || len(pieces) == 0 {
		return nil
	}
	var holes []hole
	bs := c.blockSize
	for _, p := range pieces {
		c.info.EachSpan(c.info.PieceOffset(p), c.info.PieceSize(p), func(s metainfo.Span) bool {
			if !stored(c.info, s.File) {
				return true
			}
			base := c.info.Files[s.File].Offset
			flen := c.info.Files[s.File].Length
			start, end := roundDown(s.Offset, bs), roundUp(s.Offset+s.Length, bs)
			if start < s.Offset && c.anyPresentLocked(base+start, s.Offset-start) {
				start += bs
			}
			if tail := min(end, flen); tail > s.Offset+s.Length && c.anyPresentLocked(base+s.Offset+s.Length, tail-s.Offset-s.Length) {
				end -= bs
			}
			if start < end {
				holes = append(holes, hole{file: s.File, off: start, n: end - start})
			}
			return true
		})
	}
	return holes
}

// anyPresentLocked reports whether a piece covering the torrent byte range
// [off, off+n) holds data on disk.
func (c *Cache) anyPresentLocked(off, n int64) bool {
	first, last := c.info.PieceRange(off, n)
	for q := first; q <= last; q++ {
		if c.pieces[q].state.present() {
			return true
		}
	}
	return false
}

// punch frees the given ranges. A filesystem without hole punching keeps
// the blocks; that is logged once, the cache stays correct.
func (c *Cache) punch(holes []hole) {
	for _, h := range holes {
		fh, err := c.files.acquire(h.file)
		if err != nil {
			if !errors.Is(err, ErrClosed) && c.punchWarned.CompareAndSwap(false, true) {
				c.log.Warn("cache: cannot free evicted piece data", "err", err)
			}
			return
		}
		// The punch waits for the pages of the range on their way to
		// the disk, and some file systems write its dirty pages back
		// first, holding the file's lock, which every write to the
		// file then waits for: do that first, without the lock. With
		// holdDirty, dirty pages are left alone: a piece evicted
		// before it was recorded (recordAfter) is dropped from memory
		// without ever being written where the punch does not write a
		// range back first (ext4 on Linux 6.18, measured: no sector
		// written, none discarded). A failure here only makes the
		// punch slower.
		flags := unix.SYNC_FILE_RANGE_WAIT_BEFORE
		if !c.holdDirty {
			flags |= unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		}
		_ = unix.SyncFileRange(int(fh.f.Fd()), h.off, h.n, flags)
		err = unix.Fallocate(int(fh.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, h.off, h.n)
		c.files.release(fh)
		if err != nil {
			if c.punchWarned.CompareAndSwap(false, true) {
				c.log.Warn("cache: cannot free evicted piece data; disk use may exceed the budget",
					"file", c.files.paths[h.file], "err", err)
			}
			return
		}
	}
}

// roomLeft reports whether used bytes leave room for need more within
// budget, and for the headroom too when need is not 0, so a reservation
// evicts nothing.
func roomLeft(used, need, headroom, budget int64) bool {
	if need == 0 {
		return used <= budget
	}
	return used+need+headroom <= budget
}
