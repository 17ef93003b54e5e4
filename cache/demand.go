package cache

import (
	"fmt"
	"slices"
)

// SetDemand tells the cache what its readers want now, so that eviction
// spares it (see the package documentation, Eviction). reads are the
// piece ranges [first, last] under reads in flight, each starting at the
// piece its read needs next; windows are the ranges fetched ahead of
// readers; the pieces below behind are behind every reader. The cache
// keeps copies. Until SetDemand is called every piece counts as behind:
// eviction is plain LRU.
func (c *Cache) SetDemand(reads, windows [][2]int, behind int) {
	c.demand.Store(&demand{reads: slices.Clone(reads), windows: slices.Clone(windows), behind: behind})
	c.reading.Store(len(reads)+len(windows) > 0)
}

// OtherReaders returns how many other caches of its Pool have readers
// now (reads in flight or readahead windows, by their SetDemand), so
// that the readahead of all of them together fits the shared budget as
// one cache's does its own; 0 for a cache with a budget of its own.
func (c *Cache) OtherReaders() int {
	if c.pool == nil {
		return 0
	}
	return c.pool.readers(c)
}

// OnEvict registers f, which the cache calls with each piece it evicts to
// make room, after the piece became missing. f is called with none of the
// cache's locks held, from the goroutine whose Reserve or WriteBlock made
// the room (in a Pool, possibly another cache's), so it must not wait for
// anything that such a caller may hold.
// A later call replaces f.
func (c *Cache) OnEvict(f func(piece int)) {
	c.onEvict.Store(&f)
}

// Capacity returns the budget in bytes when the cache may evict, and 0
// when it keeps everything (no budget, or one that holds the torrent).
// Once the disk filled up (ErrDiskFull) it is the lowered budget, at
// least 1.
func (c *Cache) Capacity() int64 {
	if c.pool != nil {
		return max(c.pool.Budget(), 1) // 0 would mean "keeps everything"
	}
	return c.capacity.Load()
}

// Reserve charges piece p to the budget before its blocks are written, as
// its first WriteBlock would, so that a downloader asks for a piece only
// once there is room for it. It evicts only what the policy lets p take:
// for a piece the readers need next, anything but what other reads need
// next; for a piece under a read, also window pieces; otherwise only
// pieces nobody needs. It returns an error wrapping ErrBudget when that
// cannot make room, and nil when p is not missing. It never waits for
// the cache's punch worker: p's first write waits until the blocks of
// earlier evictions are freed, so that the disk never holds more than
// the budget. A reserved piece that is not wanted any more must be
// released with Discard.
func (c *Cache) Reserve(p int) error {
	if p < 0 || p >= len(c.pieces) {
		return fmt.Errorf("cache: piece %d out of range (torrent has %d pieces)", p, len(c.pieces))
	}
	return c.reserve(p)
}
