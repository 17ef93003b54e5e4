package cache

import (
	"crypto/sha1"
	"hash"
	"slices"
	"sync"
	"sync/atomic"
)

// writeBehind is the size of the buffers in-order bytes are copied into,
// hashed from and written out of by the flusher: on ext4 a 16 KiB pwrite
// costs the kernel about 1.6 times as much per byte as a 256 KiB one, and
// beyond 256 KiB nothing more is gained.
const writeBehind = 256 << 10

// maxWriteBehind bounds the write-behind buffers pieces hold partly filled
// at once (16 MiB); beyond that, writes go straight to disk.
const maxWriteBehind = 64

// flushQueue is how many full write-behind buffers may wait for the
// flusher; a writer that finds the queue full waits, which bounds the
// memory and holds a writer to the disk's pace. A short queue keeps the
// buffers in the CPU caches.
const flushQueue = 4

// copyChunk is how much of an in-order write is copied into the
// write-behind buffer before it is hashed: small enough that the copy is
// still in the L1 cache when SHA-1 reads it.
const copyChunk = 16 << 10

// partial is the running SHA-1 of a piece being written. WriteBlock feeds
// it the bytes that extend the piece's contiguous prefix while they are
// still hot in the CPU cache, and reads back from disk the bytes that were
// written earlier out of order once the prefix reaches them, so that
// Verify hashes only what is left instead of the whole piece. The hash is
// always computed by the cache from the bytes it writes; no caller ever
// supplies one.
//
// Invariant, under mu: h has been fed exactly the piece's bytes
// [0, hashed) as they are on disk (or in wb or a queued job, on their way
// there), pad and symlink ranges as zeros. Every write to the piece
// happens under mu together with its effect on h, so two writers of the
// same piece cannot interleave a pwrite with the other's hashing. A write into the hashed prefix changes bytes already fed: the
// prefix starts over from the piece's start and is read back from disk.
type partial struct {
	mu     sync.Mutex
	h      hash.Hash
	hashed int64
	// ahead holds the ranges beyond hashed written since the piece was
	// reserved: sorted, disjoint and not adjacent.
	ahead []extent
	// wb, when not nil, holds the piece's bytes [wbOff, wbOff+len(*wb)),
	// hashed but not on disk yet: in-order writes gathered for one
	// pwrite. It and the queued jobs lie within the hashed prefix; bytes
	// are read back (catchUp, Verify) only beyond it, and a write below
	// hashed settles them first, so the disk is never read or
	// overwritten where they are newer.
	wb    *[]byte
	wbOff int64
	// jobs are the piece's buffers handed to the flusher since it was
	// last settled; flushes counts those not written yet, and flushErr
	// is the first error one of them met. Nothing reads the piece back
	// from disk, writes below hashed, verifies it or frees its blocks
	// before settling them (settle, takeOver).
	jobs     []*flushJob
	flushes  sync.WaitGroup
	flushErr atomic.Pointer[error]
}

// flushJob is a full write-behind buffer on its way to disk: the bytes at
// torrent offset off.
type flushJob struct {
	pt  *partial
	off int64
	buf *[]byte
	// taken is set by whoever writes the buffer out: the flusher, or
	// the piece's owner settling it first (Verify right after the last
	// write need not wait for the flusher to wake up).
	taken atomic.Bool
}

// extent is a range [start, end) of piece offsets.
type extent struct{ start, end int64 }

func (c *Cache) getPartial(p int) *partial {
	pt, ok := c.partials.Get().(*partial)
	if !ok {
		pt = &partial{h: sha1.New()}
	}
	if c.v2 != nil {
		// A v2 piece's hash depends on where its file ends.
		pt.h = c.newHash(p)
	}
	return pt
}

// putPartial recycles pt once nothing else uses it: its jobs must be
// settled (settle or takeOver).
func (c *Cache) putPartial(pt *partial) {
	if pt.wb != nil {
		c.putWriteBuf(pt.wb)
		pt.wb = nil
	}
	pt.h.Reset()
	pt.hashed = 0
	pt.ahead = pt.ahead[:0]
	pt.flushErr.Store(nil)
	c.partials.Put(pt)
}

// writePartial writes data at offset off of piece p and brings pt up to
// date with it. Called with pt.mu held.
func (c *Cache) writePartial(p int, pt *partial, off int64, data []byte) error {
	if off == pt.hashed {
		if err := c.writeInOrder(p, pt, data); err != nil {
			return err
		}
		return c.catchUp(p, pt)
	}
	if off < pt.hashed {
		// The write lands where wb or the flusher may hold newer bytes
		// than the disk.
		if err := c.settle(p, pt); err != nil {
			return err
		}
	}
	if err := c.writeAt(data, c.info.PieceOffset(p)+off); err != nil {
		return err
	}
	if off < pt.hashed {
		// Bytes already hashed were overwritten: everything written so
		// far is to be hashed again from the start.
		pt.add(0, pt.hashed)
		pt.h.Reset()
		pt.hashed = 0
	}
	pt.add(off, off+int64(len(data)))
	return c.catchUp(p, pt)
}

// writeInOrder writes data, which extends the hashed prefix, and hashes
// it. The bytes are copied into write-behind buffers and hashed there,
// hot in the CPU cache; each full buffer goes to the flusher, so the
// writer hashes the next bytes while the flusher's pwrite copies these
// into the page cache (on another core, when there is one). Called with
// pt.mu held.
func (c *Cache) writeInOrder(p int, pt *partial, data []byte) error {
	if errp := pt.flushErr.Load(); errp != nil {
		return *errp
	}
	c.kick()
	base, size := c.info.PieceOffset(p), c.info.PieceSize(p)
	for len(data) > 0 {
		if pt.wb != nil && pt.wbOff+int64(len(*pt.wb)) != pt.hashed {
			// catchUp moved the prefix past the buffer's end.
			c.queueFlush(p, pt, false)
		}
		if pt.wb == nil {
			if pt.wb = c.getWriteBuf(); pt.wb == nil {
				break
			}
			pt.wbOff = pt.hashed
		}
		b := *pt.wb
		n := min(len(data), cap(b)-len(b), copyChunk)
		b = append(b, data[:n]...)
		*pt.wb = b
		data = data[n:]
		// Hash the copy: it is the one in the CPU cache now.
		c.feed(pt.h, b[len(b)-n:], base+pt.hashed)
		pt.hashed += int64(n)
		if pt.hashed == size {
			// The piece's last bytes wait, without waking the
			// flusher, for the first of: its Verify, which writes
			// them itself when it comes at once (a serial caller
			// pays no wake-up nor wait), or the next WriteBlock,
			// which hands them to the flusher (a caller verifying on
			// another goroutine does not wait for the disk).
			c.queueFlush(p, pt, true)
		} else if len(b) == cap(b) {
			c.queueFlush(p, pt, false)
		}
	}
	if len(data) == 0 {
		return nil
	}
	// No buffer to be had: write, then hash. The kernel's copy streams
	// the bytes in and leaves them in the CPU cache for SHA-1.
	if err := c.writeAt(data, base+pt.hashed); err != nil {
		return err
	}
	c.feed(pt.h, data, base+pt.hashed)
	pt.hashed += int64(len(data))
	return nil
}

// queueFlush hands the write-behind buffer of piece p to the flusher,
// waiting while the queue is full, or, if later is set, sets it aside
// for the next kick. Called with pt.mu held, or by the owner of pt.
func (c *Cache) queueFlush(p int, pt *partial, later bool) {
	if pt.wb == nil {
		return
	}
	if len(*pt.wb) == 0 {
		c.putWriteBuf(pt.wb)
		pt.wb = nil
		return
	}
	j := &flushJob{pt: pt, off: c.info.PieceOffset(p) + pt.wbOff, buf: pt.wb}
	pt.flushes.Add(1)
	pt.jobs = append(pt.jobs, j)
	pt.wb = nil
	if later && c.setAside(j) {
		c.writeBufsHeld.Add(-1)
		return
	}
	c.flushQ <- j
	// Out of the piece's hands: it no longer counts against
	// maxWriteBehind; the queue bounds it now.
	c.writeBufsHeld.Add(-1)
}

// setAside keeps j for the next kick, unless flushQueue jobs already
// wait there; it reports whether it did.
func (c *Cache) setAside(j *flushJob) bool {
	c.asideMu.Lock()
	defer c.asideMu.Unlock()
	if len(c.aside) >= flushQueue {
		return false
	}
	c.aside = append(c.aside, j)
	c.asideN.Store(int32(len(c.aside)))
	return true
}

// kick hands the jobs set aside to the flusher, but those their piece's
// owner has taken meanwhile.
func (c *Cache) kick() {
	if c.asideN.Load() == 0 {
		return
	}
	var jobs [flushQueue]*flushJob
	c.asideMu.Lock()
	n := copy(jobs[:], c.aside)
	clear(c.aside)
	c.aside = c.aside[:0]
	c.asideN.Store(0)
	c.asideMu.Unlock()
	for _, j := range jobs[:n] {
		if !j.taken.Load() {
			c.flushQ <- j
		}
	}
}

// flusher writes out the buffers queued by queueFlush until the queue is
// closed, and records the first error of each piece for its writer or
// its Verify to report.
func (c *Cache) flusher() {
	defer close(c.flusherDone)
	for j := range c.flushQ {
		if j.taken.CompareAndSwap(false, true) {
			c.runJob(j, true)
		}
	}
}

// runJob writes out (or, if write is false, abandons) a job its caller
// has taken, and gives its buffer back.
func (c *Cache) runJob(j *flushJob, write bool) {
	if write {
		if err := c.writeAt(*j.buf, j.off); err != nil {
			j.pt.flushErr.CompareAndSwap(nil, &err)
		}
	}
	c.writeBufs.put(j.buf)
	j.pt.flushes.Done()
}

// takeOver runs the piece's jobs the flusher has not taken yet, writing
// them out or, if write is false, abandoning them, and waits for the
// others. Called with pt.mu held, or by the owner of pt.
func (c *Cache) takeOver(pt *partial, write bool) {
	for _, j := range pt.jobs {
		if j.taken.CompareAndSwap(false, true) {
			c.runJob(j, write)
		}
	}
	pt.flushes.Wait()
	clear(pt.jobs)
	pt.jobs = pt.jobs[:0]
}

// settle brings piece p's bytes on disk up to date: it writes out the
// write-behind buffer and the piece's buffers queued for the flusher,
// those the flusher has not taken itself, and waits for the others. It returns the first write error of the piece. Called with
// pt.mu held, or by the owner of pt.
func (c *Cache) settle(p int, pt *partial) error {
	if pt.wb != nil && len(*pt.wb) > 0 {
		b := *pt.wb
		*pt.wb = b[:0]
		if err := c.writeAt(b, c.info.PieceOffset(p)+pt.wbOff); err != nil {
			pt.flushErr.CompareAndSwap(nil, &err)
		}
	}
	c.takeOver(pt, true)
	if errp := pt.flushErr.Load(); errp != nil {
		return *errp
	}
	return nil
}

func (c *Cache) getWriteBuf() *[]byte {
	if c.writeBufsHeld.Add(1) > maxWriteBehind {
		c.writeBufsHeld.Add(-1)
		return nil
	}
	if b := c.writeBufs.get(); b != nil {
		return b
	}
	b := make([]byte, 0, c.runSize)
	return &b
}

// putWriteBuf gives back a buffer a piece held.
func (c *Cache) putWriteBuf(b *[]byte) {
	c.writeBufs.put(b)
	c.writeBufsHeld.Add(-1)
}

// catchUp hashes, reading them back from disk, the ranges written ahead
// that the prefix now reaches. Called with pt.mu held.
func (c *Cache) catchUp(p int, pt *partial) error {
	if len(pt.ahead) == 0 || pt.ahead[0].start > pt.hashed {
		return nil
	}
	hs := c.getHasher()
	defer c.hashers.Put(hs)
	for len(pt.ahead) > 0 && pt.ahead[0].start <= pt.hashed {
		if end := pt.ahead[0].end; end > pt.hashed {
			if err := c.hashRange(pt.h, hs.buf, p, pt.hashed, end); err != nil {
				return err
			}
			pt.hashed = end
		}
		pt.ahead = slices.Delete(pt.ahead, 0, 1)
	}
	return nil
}

// add records that [start, end) was written, merging it with the ranges
// it overlaps or touches.
func (pt *partial) add(start, end int64) {
	if start >= end {
		return
	}
	i := 0
	for i < len(pt.ahead) && pt.ahead[i].end < start {
		i++
	}
	j := i
	for j < len(pt.ahead) && pt.ahead[j].start <= end {
		start = min(start, pt.ahead[j].start)
		end = max(end, pt.ahead[j].end)
		j++
	}
	pt.ahead = slices.Replace(pt.ahead, i, j, extent{start, end})
}

// bufList keeps the spare write-behind buffers, most recently used (the
// likeliest still in the CPU cache) first. Unlike a sync.Pool it is not
// emptied by garbage collections, which a download's steady stream of
// 256 KiB buffers would otherwise cause and then suffer from. It keeps
// at most the buffers that were out at once: maxWriteBehind held by
// pieces plus the flusher's queue.
type bufList struct {
	mu   sync.Mutex
	free []*[]byte
}

func (l *bufList) get() *[]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.free)
	if n == 0 {
		return nil
	}
	b := l.free[n-1]
	l.free = l.free[:n-1]
	return b
}

func (l *bufList) put(b *[]byte) {
	*b = (*b)[:0]
	l.mu.Lock()
	l.free = append(l.free, b)
	l.mu.Unlock()
}
