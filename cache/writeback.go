package cache

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// writebackChunk is how many bytes written to the backing files start
// their writeback to disk. Left to itself the kernel starts writing a
// download back only once a tenth of the memory is dirty, so a 1 GiB
// download on a machine with 16 GiB ends with all of it dirty and the
// fsync of Close (or of a state save) waits for the disk to write it
// all. Started every few MiB, the writeback runs while the download
// does, and the final fsync finds at most about this much left.
const writebackChunk = 8 << 20

// writeback starts the kernel's writeback of the backing files behind
// the writers: its goroutine calls sync_file_range(SYNC_FILE_RANGE_WRITE)
// on the files written since its last pass, every writebackChunk bytes.
// That call only queues the dirty pages for the disk (it may block while
// the disk's queue is full, which is why the writers never make it
// themselves); it flushes no metadata and promises nothing about
// durability, which stays the business of the fsyncs of the journal and
// of saves. It is a hint: a failure shows up at the next fsync.
type writeback struct {
	// chunk is writebackChunk, smaller in tests.
	chunk int64
	// dirty marks the backing files written since the last pass.
	dirty []atomic.Bool
	// pending counts the bytes written since the last pass; crossing
	// chunk wakes the goroutine.
	pending atomic.Int64
	// kicks counts the wake-ups asked for; passes, under mu, is the
	// value of kicks the last finished pass started from, so a pass
	// covers every write counted before it.
	kicks  atomic.Int64
	wake   chan struct{}
	mu     sync.Mutex
	passed *sync.Cond // on mu: a pass finished
	passes int64
	done   chan struct{}
}

func newWriteback(files int) *writeback {
	wb := &writeback{
		chunk: writebackChunk,
		dirty: make([]atomic.Bool, files),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	wb.passed = sync.NewCond(&wb.mu)
	return wb
}

// wrote records that n bytes were written to backing file k. Called
// after the write, so that a pass seeing the mark finds the bytes in the
// page cache.
func (wb *writeback) wrote(k int, n int) {
	if !wb.dirty[k].Load() {
		wb.dirty[k].Store(true)
	}
	total := wb.pending.Add(int64(n))
	if total >= wb.chunk && total-int64(n) < wb.chunk {
		wb.kicks.Add(1)
		select {
		case wb.wake <- struct{}{}:
		default: // a pass is due already; it will see this kick
		}
	}
}

// runWriteback starts the writeback of the files written, a pass per wake-up,
// until ctx is cancelled. Close's fsync then writes what is left.
func (c *Cache) runWriteback(ctx context.Context) {
	wb := c.writeback
	defer close(wb.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-wb.wake:
		}
		kicks := wb.kicks.Load()
		wb.pending.Store(0)
		for k := range wb.dirty {
			if !wb.dirty[k].Swap(false) {
				continue
			}
			h, err := c.files.acquire(k)
			if err != nil {
				continue // the fsync of the next save reports it
			}
			// Offset 0 and length 0: the whole file. The kernel walks
			// only its dirty pages, and skips those already on their way.
			_ = unix.SyncFileRange(int(h.f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			c.files.release(h)
		}
		wb.mu.Lock()
		wb.passes = kicks
		wb.passed.Broadcast()
		wb.mu.Unlock()
	}
}

// caughtUp waits until the writeback goroutine has started the writeback
// of everything written before the last wake-up, so that at most
// chunk bytes written since wait for it, or until ctx ends.
// For tests.
func (wb *writeback) caughtUp(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		wb.mu.Lock()
		wb.passed.Broadcast()
		wb.mu.Unlock()
	})
	defer stop()
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for wb.passes < wb.kicks.Load() {
		if err := ctx.Err(); err != nil {
			return err
		}
		wb.passed.Wait()
	}
	return nil
}

// holdsDirty reports whether a cache that evicts, with its data in dir
// and its state at stateFile, may leave a verified piece's pages dirty
// for recordAfter and then make the piece durable for its journal
// record with sync_file_range over its ranges alone (journal.go): dir
// is on ext4, which overwrites in place (so a block shared with a
// neighbour piece is written where the old one was) and whose punch
// drops dirty pages unwritten on recent kernels, and the journal is on
// the same file system, so that its fdatasync flushes the disk's cache
// and ext4's journal for the data too. Elsewhere the cache flushes
// whole files with fdatasync and starts their writeback as it goes.
func holdsDirty(dir, stateFile string) bool {
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) != nil || fs.Type != unix.EXT4_SUPER_MAGIC {
		return false
	}
	if stateFile == "" {
		return true
	}
	var a, b unix.Stat_t
	return unix.Stat(dir, &a) == nil && unix.Stat(filepath.Dir(stateFile), &b) == nil && a.Dev == b.Dev
}
