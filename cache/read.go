package cache

import (
	"fmt"
	"io"
)

// ReadAt reads len(b) bytes at torrent offset off. Every piece under the
// range must be verified, otherwise it reads nothing and returns an error
// wrapping ErrNotVerified. Pad files read as zeros. The pieces are pinned
// for the duration of the read, so eviction cannot free them under it,
// and marked recently used. Like io.ReaderAt, it returns io.EOF with a
// short count at the end of the torrent.
func (c *Cache) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("cache: negative offset %d", off)
	}
	if off >= c.info.Length {
		return 0, io.EOF
	}
	n := min(int64(len(b)), c.info.Length-off)
	if n == 0 {
		return 0, nil
	}
	first, last := c.info.PieceRange(off, n)
	if err := c.pin(first, last); err != nil {
		return 0, err
	}
	err := c.readAt(b[:n], off)
	c.unpin(first, last)
	if err != nil {
		return 0, fmt.Errorf("cache: reading: %w", err)
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// pin takes pieces [first, last] out of eviction if all are verified, and
// marks them recently used. Pinned pieces stay in the LRU (moving them
// would allocate on every read); eviction steps over them.
func (c *Cache) pin(first, last int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for p := first; p <= last; p++ {
		if c.pieces[p].state != stateVerified {
			c.unpinLocked(first, p-1)
			return fmt.Errorf("%w: piece %d", ErrNotVerified, p)
		}
		c.pieces[p].pins++
		if c.pieces[p].pins == 1 {
			c.evictable -= c.footprint[p]
		}
		c.lruTouch(p)
	}
	return nil
}

// unpin returns pieces [first, last] to eviction as most recently used.
func (c *Cache) unpin(first, last int) {
	c.mu.Lock()
	c.unpinLocked(first, last)
	c.mu.Unlock()
}

func (c *Cache) unpinLocked(first, last int) {
	for p := first; p <= last; p++ {
		c.pieces[p].pins--
		if c.pieces[p].pins == 0 {
			c.evictable += c.footprint[p]
		}
	}
}
