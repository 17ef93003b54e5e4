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

// NewReader returns a Reader; Close it to withdraw its demands.
func (t *Torrent) NewReader(opts ReaderOptions) *Reader {
	if opts.Readahead <= 0 {
		opts.Readahead = 16 << 20
	}
	r := &Reader{t: t, opts: opts, reads: map[uint64][2]int{}, ahead: emptyRange, pos: -1}
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
	t.demandChanged()
	return nil
}

// ReadAt reads len(b) bytes at off of the torrent's byte space, waiting
// until the pieces under them are verified. It returns io.EOF at the end
// of the torrent, ctx.Err() as soon as ctx ends, and an error wrapping
// ErrStalled after StallTimeout without progress.
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
	id := r.demand(off, n, first, last)
	defer r.done(id)

	var stall <-chan time.Time
	var stallTimer *time.Timer
	if r.opts.StallTimeout > 0 {
		stallTimer = time.NewTimer(r.opts.StallTimeout)
		defer stallTimer.Stop()
		stall = stallTimer.C
	}
	verified := -1
	for {
		missing := -1
		have := 0
		for p := first; p <= last; p++ {
			if t.st.Have(p) {
				have++
			} else if missing < 0 {
				missing = p
			}
		}
		if missing < 0 {
			got, err := t.st.ReadAt(b[:n], off)
			if err == nil {
				if n < int64(len(b)) {
					return int(n), io.EOF
				}
				return got, nil
			}
			// A piece was evicted between the check and the read:
			// fetch it again.
			missing = first
		}
		if have > verified {
			if verified >= 0 && stallTimer != nil {
				stallTimer.Reset(r.opts.StallTimeout)
			}
			verified = have
		}
		t.mu.Lock()
		wake := t.verified
		for p := first; p <= last; p++ {
			if t.state[p] == pieceHave && !t.st.Have(p) {
				t.lost(p)
			}
		}
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.ctx.Done():
			return 0, errors.New("torrent closed")
		case <-stall:
			t.mu.Lock()
			reason := t.stallReason(missing)
			t.mu.Unlock()
			return 0, fmt.Errorf("%w: %s", ErrStalled, reason)
		}
	}
}

// demand records the read's pieces as urgent and sizes the readahead. It
// returns the read's id for done.
func (r *Reader) demand(off, n int64, first, last int) uint64 {
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
	if a, b := t.info.PieceRange(r.pos, r.window); a <= b {
		r.ahead = [2]int{a, b}
	} else {
		r.ahead = emptyRange
	}
	if !r.closed {
		t.demandChanged()
	}
	return id
}

// done withdraws a finished read's urgent demand.
func (r *Reader) done(id uint64) {
	r.t.mu.Lock()
	delete(r.reads, id)
	r.t.mu.Unlock()
}

// lost notes that the storage evicted a piece we had: it must be fetched
// again before it can be read. Called with t.mu held.
func (t *Torrent) lost(p int) {
	t.state[p] = pieceMissing
	t.haveCount--
}

// stallReason explains why piece p does not arrive. Called with t.mu held.
func (t *Torrent) stallReason(p int) string {
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
