package cache

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/internal/bytesize"
)

// ErrDiskFull is matched (errors.Is) by the error of a write or Verify
// that the filesystem refused for want of space (ENOSPC, or EDQUOT for a
// quota); the error is a *DiskFullError. It also matches a storage
// contract's disk-full error that marks its own with a method DiskFull()
// bool, such as fetch.ErrDiskFull.
var ErrDiskFull error = diskFullMark{}

type diskFullMark struct{}

func (diskFullMark) Error() string  { return "cache disk full" }
func (diskFullMark) DiskFull() bool { return true }

// DiskFullError reports a cache write the disk refused. The cache has
// lowered its budget to Budget, the bytes it held then plus what the
// filesystem still had free, so that it evicts to make room from then on
// instead of writing past the disk's end. errors.Is(err, syscall.ENOSPC)
// (or EDQUOT) still holds.
type DiskFullError struct {
	Dir    string // the cache directory
	Held   int64  // bytes of verified pieces (and ones to check) on that disk
	Budget int64  // the budget the cache now keeps to
	Err    error  // the filesystem's error, naming the file
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("cache disk full: %s holds %s of pieces and has no room for more; the cache now keeps to %s (free some space there or lower the cache size): %v",
		e.Dir, bytesize.Format(e.Held), bytesize.Format(e.Budget), e.Err)
}

func (e *DiskFullError) Unwrap() error { return e.Err }

// Is makes a DiskFullError match ErrDiskFull and a storage contract's
// disk-full error.
func (e *DiskFullError) Is(target error) bool {
	f, ok := target.(interface{ DiskFull() bool })
	return ok && f.DiskFull()
}

// isNoSpace reports whether err is the filesystem refusing a write for
// want of space.
func isNoSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}

// diskFull turns a write error that means a full disk into a
// *DiskFullError, after lowering the budget to what the disk holds: the
// bytes of the pieces held (the failed piece is already dropped) plus the
// free space left. Other errors come back as they are.
func (c *Cache) diskFull(err error) error {
	if !isNoSpace(err) {
		return err
	}
	// The holes waiting for a batch are free space too.
	c.punchQ.drain()
	free, ferr := FreeSpace(c.opts.Dir)
	if ferr != nil {
		free = 0
	}
	c.mu.Lock()
	// What the user has: pieces reserved and being written are charged
	// in full but may have few blocks on disk, and would overstate what
	// fits.
	held := int64(0)
	for p := range c.pieces {
		switch c.pieces[p].state {
		case stateVerified, stateUnproven, stateVerifying, stateProving:
			held += c.footprint[p]
		}
	}
	limit := roundDown(held+free, c.blockSize)
	if c.pool != nil {
		// The other members hold the rest of the shared budget; what
		// they charge for pieces being written is an overstatement
		// the next full disk corrects.
		others := c.pool.Used() - c.used
		c.mu.Unlock()
		limit = c.pool.shrink(roundDown(others+held+free, c.blockSize))
		c.log.Error("cache disk full; the shared budget shrinks", "dir", c.opts.Dir, "held", held, "budget", limit, "err", err)
		return &DiskFullError{Dir: c.opts.Dir, Held: held, Budget: limit, Err: err}
	}
	if c.shrunk {
		limit = min(limit, c.limit)
	}
	c.shrunk, c.limit = true, limit
	c.capacity.Store(max(limit, 1)) // 0 would mean "keeps everything"
	c.mu.Unlock()
	// Nothing is evicted now: the pieces over the new budget may be all
	// the user has (torfs get). New pieces evict by the policy (Reserve).
	c.log.Error("cache disk full; keeping to a smaller budget", "dir", c.opts.Dir, "held", held, "budget", limit, "err", err)
	return &DiskFullError{Dir: c.opts.Dir, Held: held, Budget: limit, Err: err}
}

// budgetLocked is the budget in force: Options.Budget, or less once the
// disk filled up. Called with mu held.
func (c *Cache) budgetLocked() int64 {
	if c.pool != nil {
		return c.pool.Budget()
	}
	if c.shrunk {
		return c.limit
	}
	return max(c.opts.Budget, 0) // Keep keeps everything, as Unlimited does
}

// freeUnfinished makes room for the state file on a full disk at Close:
// without it, the pieces verified since the last save would be trusted
// by nothing. The pieces still being written go; the next Open would
// free their blocks anyway. It reports whether any did.
func (c *Cache) freeUnfinished() bool {
	c.allocMu.Lock()
	defer c.allocMu.Unlock()
	c.mu.Lock()
	var gone []int
	for p := range c.pieces {
		if c.pieces[p].state == stateWriting {
			c.pieces[p].part = nil
			c.forgetLocked(p)
			gone = append(gone, p)
		}
	}
	holes := c.holesLocked(gone)
	c.mu.Unlock()
	c.punch(holes)
	return len(holes) > 0
}
