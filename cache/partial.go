package cache

import (
	"crypto/sha1"
	"hash"
	"slices"
	"sync"
)

// writeBehind is how many bytes of a piece's contiguous prefix WriteBlock
// gathers in memory before writing them with one pwrite: on ext4 a 16 KiB
// pwrite costs the kernel about 1.6 times as much per byte as a 256 KiB
// one, and beyond 256 KiB nothing more is gained.
const writeBehind = 256 << 10

// maxWriteBehind bounds the write-behind buffers held at once, by all the
// pieces being written (16 MiB); beyond that, small writes go straight to
// disk.
const maxWriteBehind = 64

// partial is the running SHA-1 of a piece being written. WriteBlock feeds
// it the bytes that extend the piece's contiguous prefix while they are
// still hot in the CPU cache, and reads back from disk the bytes that were
// written earlier out of order once the prefix reaches them, so that
// Verify hashes only what is left instead of the whole piece. The hash is
// always computed by the cache from the bytes it writes; no caller ever
// supplies one.
//
// Invariant, under mu: h has been fed exactly the piece's bytes
// [0, hashed) as they are on disk (or in wb, on their way there), pad and
// symlink ranges as zeros. Every
// write to the piece happens under mu together with its effect on h, so
// two writers of the same piece cannot interleave a pwrite with the other's
// hashing. A write into the hashed prefix changes bytes already fed: the
// prefix starts over from the piece's start and is read back from disk.
type partial struct {
	mu     sync.Mutex
	h      hash.Hash
	hashed int64
	// ahead holds the ranges beyond hashed written since the piece was
	// reserved: sorted, disjoint and not adjacent.
	ahead []extent
	// wb, when not nil, holds the piece's bytes [wbOff, wbOff+len(*wb)),
	// hashed but not on disk yet: small in-order writes gathered into one
	// pwrite. It lies within the hashed prefix; bytes are read back
	// (catchUp, Verify) only beyond it, and a write below hashed flushes
	// wb first, so the disk is never read or overwritten where wb is
	// newer.
	wb    *[]byte
	wbOff int64
}

// extent is a range [start, end) of piece offsets.
type extent struct{ start, end int64 }

func (c *Cache) getPartial() *partial {
	if pt, ok := c.partials.Get().(*partial); ok {
		return pt
	}
	return &partial{h: sha1.New()}
}

func (c *Cache) putPartial(pt *partial) {
	if pt.wb != nil {
		*pt.wb = (*pt.wb)[:0]
		c.writeBufs.Put(pt.wb)
		c.writeBufsHeld.Add(-1)
		pt.wb = nil
	}
	pt.h.Reset()
	pt.hashed = 0
	pt.ahead = pt.ahead[:0]
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
		// The write lands where wb may hold newer bytes than the disk.
		if err := c.flush(p, pt); err != nil {
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
// it. Small writes are gathered in a write-behind buffer while one can
// be had. Called with pt.mu held.
func (c *Cache) writeInOrder(p int, pt *partial, data []byte) error {
	base := c.info.PieceOffset(p)
	if pt.wb == nil && len(data) <= writeBehind/4 && int64(len(data)) < c.info.PieceSize(p)-pt.hashed {
		pt.wb = c.getWriteBuf()
	}
	if pt.wb != nil {
		if len(*pt.wb)+len(data) > cap(*pt.wb) || pt.wbOff+int64(len(*pt.wb)) != pt.hashed {
			if err := c.flush(p, pt); err != nil {
				return err
			}
		}
		if b := *pt.wb; len(data) < cap(b) {
			if len(b) == 0 {
				pt.wbOff = pt.hashed
			}
			b = append(b, data...)
			*pt.wb = b
			// Hash the copy: it is the one in the CPU cache now.
			c.feed(pt.h, b[len(b)-len(data):], base+pt.hashed)
			pt.hashed += int64(len(data))
			// A run that ends the piece is left for Verify to write
			// out: on the hashing worker, off the writer's path.
			if len(b) == cap(b) {
				return c.flush(p, pt)
			}
			return nil
		}
	}
	// Write first, then hash: the kernel's copy streams the bytes in and
	// leaves them in the CPU cache for SHA-1 (measured faster than the
	// other order).
	if err := c.writeAt(data, base+pt.hashed); err != nil {
		return err
	}
	c.feed(pt.h, data, base+pt.hashed)
	pt.hashed += int64(len(data))
	return nil
}

// flush writes out the write-behind buffer of piece p. Called with pt.mu
// held, or by the owner of pt.
func (c *Cache) flush(p int, pt *partial) error {
	if pt.wb == nil || len(*pt.wb) == 0 {
		return nil
	}
	b := *pt.wb
	*pt.wb = b[:0]
	return c.writeAt(b, c.info.PieceOffset(p)+pt.wbOff)
}

func (c *Cache) getWriteBuf() *[]byte {
	if c.writeBufsHeld.Add(1) > maxWriteBehind {
		c.writeBufsHeld.Add(-1)
		return nil
	}
	if b, ok := c.writeBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, writeBehind)
	return &b
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
