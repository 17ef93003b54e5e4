package cache

import (
	"crypto/sha1"
	"hash"
	"slices"
	"sync"
)

// partial is the running SHA-1 of a piece being written. WriteBlock feeds
// it the bytes that extend the piece's contiguous prefix while they are
// still hot in the CPU cache, and reads back from disk the bytes that were
// written earlier out of order once the prefix reaches them, so that
// Verify hashes only what is left instead of the whole piece. The hash is
// always computed by the cache from the bytes it writes; no caller ever
// supplies one.
//
// Invariant, under mu: h has been fed exactly the piece's bytes
// [0, hashed) as they are on disk, pad and symlink ranges as zeros. Every
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
	pt.h.Reset()
	pt.hashed = 0
	pt.ahead = pt.ahead[:0]
	c.partials.Put(pt)
}

// writePartial writes data at offset off of piece p and brings pt up to
// date with it. Called with pt.mu held.
func (c *Cache) writePartial(p int, pt *partial, off int64, data []byte) error {
	base := c.info.PieceOffset(p)
	// Write first, then hash: the kernel's copy streams the bytes in and
	// leaves them in the CPU cache for SHA-1 (measured faster than the
	// other order).
	if err := c.writeAt(data, base+off); err != nil {
		return err
	}
	end := off + int64(len(data))
	if off < pt.hashed {
		// Bytes already hashed were overwritten: everything written so
		// far is to be hashed again from the start.
		pt.add(0, pt.hashed)
		pt.h.Reset()
		pt.hashed = 0
	}
	if off == pt.hashed {
		c.feed(pt.h, data, base+off)
		pt.hashed = end
	} else {
		pt.add(off, end)
	}
	return c.catchUp(p, pt)
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
