package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrStalled is wrapped by Reader.ReadAt when no progress was made for
// ReaderOptions.StallTimeout; the message says why ("no peers", ...).
var ErrStalled = errors.New("download stalled")

// ErrClosed is wrapped by the calls that find their torrent or client
// closed: Reader.ReadAt once the torrent is closed, Client.AddTorrent and
// Client.Resolve once the client is. Test for it with errors.Is; the
// message around it says which was closed.
var ErrClosed = errors.New("closed")

// ReaderOptions configures a Reader.
type ReaderOptions struct {
	// Readahead is the largest window fetched ahead of sequential reads
	// (default 16 MiB). The window starts small and doubles while reads
	// stay sequential; a seek resets it.
	Readahead int64
	// StallTimeout ends a read that made no progress for this long with
	// an error wrapping ErrStalled; 0 waits forever.
	StallTimeout time.Duration
}

// Reader reads the torrent's byte space, demanding the pieces under each
// read (urgent) and a window after it (readahead). A Reader is one stream:
// the file handle of a program reading a file.
type Reader struct {
	t    *Torrent
	opts ReaderOptions

	// guarded by t.mu
	// reads holds the piece range of each ReadAt in progress: the kernel
	// reads one file handle concurrently, and each read stays urgent
	// until it returns.
	reads  map[uint64][2]int
	nextID uint64
	ahead  [2]int // readahead pieces; empty when [0] > [1]
	end    int64  // readahead stops here: the end of the file read
	pos    int64  // where a sequential read would continue
	window int64
	closed bool
}

// anyPiece reports whether f holds for a piece the reader demands.
func (r *Reader) anyPiece(f func(int) bool) bool {
	for _, u := range r.reads {
		for i := max(u[0], 0); i <= u[1]; i++ {
			if f(i) {
				return true
			}
		}
	}
	for i := max(r.ahead[0], 0); i <= r.ahead[1]; i++ {
		if f(i) {
			return true
		}
	}
	return false
}

var emptyRange = [2]int{0, -1}

// NewReader returns a Reader of the whole torrent; Close it to withdraw
// its demands.
func (t *Torrent) NewReader(opts ReaderOptions) *Reader {
	return t.NewFileReader(0, t.info.Length, opts)
}

// NewFileReader returns a Reader of the file at torrent bytes
// [off, off+n): its readahead never goes past the file's end, so a
// reader near the end of one file does not fetch the next file's
// pieces, which its own reader may have read and the cache evicted.
// Reads may still go anywhere in the torrent. Close it to withdraw its
// demands.
func (t *Torrent) NewFileReader(off, n int64, opts ReaderOptions) *Reader {
	if opts.Readahead <= 0 {
		opts.Readahead = 16 << 20
	}
	end := t.info.Length
	if off >= 0 && n >= 0 && off+n <= end {
		end = off + n
	}
	r := &Reader{t: t, opts: opts, reads: map[uint64][2]int{}, ahead: emptyRange, end: end, pos: -1}
	t.mu.Lock()
	t.readers[r] = struct{}{}
	t.mu.Unlock()
	return r
}

// Close withdraws the reader's demands.
func (r *Reader) Close() error {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	delete(t.readers, r)
	t.pushDemand()
	t.demandChanged()
	return nil
}

// ReadAt reads len(b) bytes at off of the torrent's byte space, waiting
// until the pieces under them are verified. It copies piece by piece as
// they arrive, so a read needs only the piece it copies to be held, and
// a budget smaller than the read still serves it. It returns io.EOF at
// the end of the torrent, ctx.Err() as soon as ctx ends, an error
// wrapping ErrStalled after StallTimeout without progress, and one
// wrapping ErrStorageFull at once when the storage cannot hold even one
// piece for each read in flight; after the disk filled up (ErrDiskFull)
// the same holds of its lowered capacity, and the error matches
// ErrDiskFull too.
func (r *Reader) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	t := r.t
	length := t.info.Length
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= length {
		return 0, io.EOF
	}
	n := min(int64(len(b)), length-off)
	if n == 0 {
		return 0, nil
	}
	first, last := t.info.PieceRange(off, n)
	id, err := r.demand(off, n, first, last)
	defer r.done(id)
	if err != nil {
		return 0, err
	}

	var stall <-chan time.Time
	var stallTimer *time.Timer
	if r.opts.StallTimeout > 0 {
		stallTimer = time.NewTimer(r.opts.StallTimeout)
		defer stallTimer.Stop()
		stall = stallTimer.C
	}
	progress := func() {
		if stallTimer != nil {
			stallTimer.Reset(r.opts.StallTimeout)
		}
	}
	done := int64(0) // bytes copied
	held := 0        // pieces under the rest of the read held at the last look
	for done < n {
		p := int((off + done) / t.info.PieceLength)
		// Copy the held pieces from p on in one go.
		end := p
		for end < last && t.st.Have(end+1) {
			end++
		}
		if t.st.Have(p) {
			span := min(n, t.info.PieceOffset(end)+t.info.PieceSize(end)-off) - done
			_, err := t.st.ReadAt(b[done:done+span], off+done)
			if err == nil {
				done += span
				if done < n {
					r.advance(id, end+1, last)
				}
				held = 0
				progress()
				continue
			}
			if t.heldAll(p, end) {
				return 0, fmt.Errorf("reading the cache: %w", err)
			}
			// Evicted between the look and the read: wait for it again.
		}
		t.mu.Lock()
		if err := t.checkDiskFull(p); err != nil {
			t.mu.Unlock()
			return 0, err
		}
		wake := t.verified // taken before looking: a verify after the look closes it
		ready := t.st.Have(p)
		have := 0
		for q := p; q <= last; q++ {
			if t.st.Have(q) {
				have++
			}
		}
		t.mu.Unlock()
		if ready {
			continue
		}
		if have > held {
			progress() // pieces further on arrived
		}
		held = have
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.ctx.Done():
			return 0, fmt.Errorf("torrent %w", ErrClosed)
		case <-stall:
			t.mu.Lock()
			reason := t.stallReason(p)
			t.mu.Unlock()
			t.stalls.Add(1)
			return 0, fmt.Errorf("%w: %s", ErrStalled, reason)
		}
	}
	if n < int64(len(b)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// demand records the read's pieces as urgent and sizes the readahead. It
// returns the read's id for done, and an error when the storage cannot
// hold a piece for every read in flight.
func (r *Reader) demand(off, n int64, first, last int) (uint64, error) {
	t := r.t
	pl := t.info.PieceLength
	t.mu.Lock()
	defer t.mu.Unlock()
	if r.window > 0 && off >= r.pos-r.window && off <= r.pos+r.window {
		// Sequential; the kernel's concurrent reads of one stream arrive
		// slightly out of order, so "near the last read" counts.
		r.window = min(2*r.window, r.opts.Readahead)
		r.pos = max(r.pos, off+n)
	} else {
		r.window = min(max(2*pl, 1<<20), r.opts.Readahead)
		r.pos = off + n
	}
	r.nextID++
	id := r.nextID
	r.reads[id] = [2]int{first, last}
	r.ahead = emptyRange
	if a, b := t.info.PieceRange(r.pos, min(r.window, r.end-r.pos)); a <= b {
		// The readers' windows share half of a storage's budget.
		if k := t.windowPieces(); k >= 0 {
			b = min(b, a+k-1)
		}
		if a <= b {
			r.ahead = [2]int{a, b}
		}
	}
	err := t.checkReads()
	if t.diskFull != nil {
		err = t.checkDiskFull(first)
	}
	if err != nil {
		delete(r.reads, id)
		return id, err
	}
	if !r.closed {
		t.pushDemand()
		t.demandChanged()
	}
	return id, nil
}

// advance moves a read in flight on to piece next, the pieces before it
// being copied: they no longer need to be held for it.
func (r *Reader) advance(id uint64, next, last int) {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := r.reads[id]; !ok {
		return
	}
	r.reads[id] = [2]int{next, last}
	if !r.closed {
		t.pushDemand()
		t.demandChanged()
	}
}

// done withdraws a finished read's urgent demand.
func (r *Reader) done(id uint64) {
	t := r.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := r.reads[id]; !ok {
		return
	}
	delete(r.reads, id)
	if !r.closed {
		t.pushDemand()
	}
}

// heldAll reports whether the storage holds pieces first to last.
func (t *Torrent) heldAll(first, last int) bool {
	for p := first; p <= last; p++ {
		if !t.st.Have(p) {
			return false
		}
	}
	return true
}

// stallReason explains why piece p does not arrive. Called with t.mu held.
func (t *Torrent) stallReason(p int) string {
	if t.diskFull != nil {
		return t.diskFull.Error()
	}
	if t.state[p] == pieceWebSeed {
		return fmt.Sprintf("a web seed is slow to send piece %d", p)
	}
	if reason := t.webSeedTrouble(); reason != "" && len(t.peers) == 0 {
		return "no peers; " + reason
	}
	if len(t.peers) == 0 {
		if t.lastError != "" {
			return "no peers (last error: " + t.lastError + ")"
		}
		return "no peers"
	}
	has, unchoked := 0, 0
	for q := range t.peers {
		if q.has(p) {
			has++
			if !q.peerChoking {
				unchoked++
			}
		}
	}
	switch {
	case has == 0:
		return fmt.Sprintf("none of %d peers has piece %d", len(t.peers), p)
	case unchoked == 0:
		return "all peers choking us"
	}
	return fmt.Sprintf("%d peers have piece %d but none sent it", unchoked, p)
}

// Readers is the number of open Readers of the torrent (file handles,
// HTTP streams): what demands pieces, or may at the next read.
func (t *Torrent) Readers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.readers)
}
