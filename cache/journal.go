package cache

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The journal continues the resume state between two saves: it records
// each piece as it is verified and each verified or unproven piece as it
// leaves the disk, so that a process killed at any moment comes back
// with what it had verified up to about journalDelay before
// (recordAfter plus journalDelay in a cache that holds pieces in
// memory, holdDirty).
//
// A state saved while running names its journal (state.Journal); the
// journal file is StateFile + ".journal-" + that name and starts with a
// header holding the name. Records come in batches:
//
//	count uint16 | count × record uint32 | CRC-32 (IEEE) of count and records
//
// A record is a piece index, with evictBit set for an eviction. Replay
// stops at the first batch that is short or fails its checksum: a torn
// tail, written when the process or the machine died, is ignored.
//
// Two orders keep a record from vouching for what is not on disk:
//   - a verified record is written only after the piece's data has been
//     flushed, in batches at most journalDelay after the piece verified
//     (recordAfter later with holdDirty). A cache flushes with
//     fdatasync of its backing files, or with holdDirty (ext4, the
//     journal on the same file system) with sync_file_range over the
//     pieces' ranges alone, written and waited for, then the fdatasync
//     of the journal, which flushes the disk's cache and ext4's journal
//     too. After a power cut without ext4's journal, the backing
//     file's block map may lack the range; it then reads as a hole, and
//     Open's hole check refuses the piece;
//   - an eviction record is written (not flushed) before the piece's hole
//     is punched, which is enough when the process dies; for a power cut,
//     Open checks that a piece the journal vouches for has no hole, and a
//     piece evicted then written again has its eviction flushed first.
//
// Each save (compaction) folds the journal into the state file: it starts
// a new journal, writes a state naming it, then removes the old one, so a
// crash between two steps leaves a state with the journal it names.

const (
	journalMagic = "TORFSJ1\n"
	journalHdr   = len(journalMagic) + 8 + 4
	evictBit     = 1 << 31
	// maxBatch bounds the records of one batch (count is 16 bits).
	maxBatch = 1<<16 - 1
)

// journalDelay is how long after a piece verifies its record may wait to
// be batched with others: one flush of the data and one of the journal
// per batch instead of per piece.
const journalDelay = 250 * time.Millisecond

// recordAfter is how long a cache with holdDirty holds a verified piece
// in memory before it writes the piece's data to disk and records it. A piece
// streamed through a small cache is usually evicted before that: its
// pages are dropped from memory by the punch while still dirty, never
// written to the disk and then discarded from it (most of the cost of
// a small cache on ext4 mounted with discard, and wear on an SSD for
// nothing). The price: a process killed comes back without the pieces
// verified in the last recordAfter plus journalDelay, which the next
// start fetches again; a piece held longer is recorded by then. Only a
// cache with holdDirty set waits so.
const recordAfter = 500 * time.Millisecond

// journal is the open journal of a cache. Its methods are safe for
// concurrent use; verified and evicted are called with the cache's mu
// held, so their records are in the order the pieces changed state.
type journal struct {
	mu   sync.Mutex
	f    *os.File // nil until the first save of Open
	name string
	// prev is the journal a save in progress replaces.
	prev *os.File
	// pending are pieces verified whose records wait for a flush, in
	// the order they verified, and pendingAt when each verified; an
	// entry of pending whose time is not its piece's in pendingAt is
	// stale. inflight are the pieces a flush is syncing the data of.
	// An eviction takes the piece out of pendingAt and inflight, so
	// its verified record is never written after its eviction record.
	pending   []pendingRecord
	pendingAt map[int]time.Time
	inflight  map[int]bool
	// unsynced are pieces whose eviction record is written but not yet
	// flushed to disk, with the number of that record; evictions
	// numbers the eviction records written.
	unsynced  map[int]uint64
	evictions uint64
	wake      chan struct{}
	log       func(msg string, err error)
}

// pendingRecord is a piece verified at a time whose record is not
// written yet.
type pendingRecord struct {
	piece int
	at    time.Time
}

func newJournal(log func(string, error)) *journal {
	return &journal{
		pendingAt: make(map[int]time.Time),
		inflight:  make(map[int]bool),
		unsynced:  make(map[int]uint64),
		wake:      make(chan struct{}, 1),
		log:       log,
	}
}

// journalPath is where the journal called name of stateFile lives.
func journalPath(stateFile, name string) string { return stateFile + ".journal-" + name }

// createJournal creates a new, empty journal next to stateFile, flushed
// to disk with its directory, and returns it with its name.
func createJournal(stateFile string) (*os.File, string, error) {
	var id [8]byte
	rand.Read(id[:])
	name := hex.EncodeToString(id[:])
	f, err := os.OpenFile(journalPath(stateFile, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, "", err
	}
	hdr := make([]byte, 0, journalHdr)
	hdr = append(hdr, journalMagic...)
	hdr = append(hdr, id[:]...)
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.ChecksumIEEE(hdr))
	_, err = f.Write(hdr)
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err == nil {
		err = syncDir(filepath.Dir(stateFile))
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, "", err
	}
	return f, name, nil
}

// appendBatch encodes records as one batch.
func appendBatch(b []byte, recs []uint32) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, uint16(len(recs)))
	for _, r := range recs {
		b = binary.BigEndian.AppendUint32(b, r)
	}
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// journalOp is one replayed record.
type journalOp struct {
	piece int
	evict bool
}

// parseJournal decodes a journal called name, stopping at the first torn
// or damaged batch; an op naming a piece past npieces ends it too.
func parseJournal(data []byte, name string, npieces int) ([]journalOp, error) {
	if len(data) < journalHdr || string(data[:len(journalMagic)]) != journalMagic ||
		binary.BigEndian.Uint32(data[journalHdr-4:]) != crc32.ChecksumIEEE(data[:journalHdr-4]) {
		return nil, errors.New("damaged journal header")
	}
	if hex.EncodeToString(data[len(journalMagic):journalHdr-4]) != name {
		return nil, errors.New("journal belongs to another state")
	}
	var ops []journalOp
	for rest := data[journalHdr:]; len(rest) >= 2; {
		n := int(binary.BigEndian.Uint16(rest))
		size := 2 + 4*n + 4
		if n == 0 || len(rest) < size || binary.BigEndian.Uint32(rest[size-4:]) != crc32.ChecksumIEEE(rest[:size-4]) {
			break
		}
		batch := make([]journalOp, 0, n)
		for i := range n {
			r := binary.BigEndian.Uint32(rest[2+4*i:])
			p := int(r &^ evictBit)
			if p >= npieces {
				return ops, nil
			}
			batch = append(batch, journalOp{piece: p, evict: r&evictBit != 0})
		}
		ops = append(ops, batch...)
		rest = rest[size:]
	}
	return ops, nil
}

// replay applies the journal st names to st's bitfields. It fails if
// the journal cannot be read; a torn tail is not a failure.
func replay(st *state, stateFile string, npieces int) error {
	data, err := os.ReadFile(journalPath(stateFile, st.Journal))
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	ops, err := parseJournal(data, st.Journal, npieces)
	if err != nil {
		return err
	}
	for _, op := range ops {
		clearBit(st.Verified, op.piece)
		clearBit(st.Unproven, op.piece)
		clearBit(st.Partial, op.piece)
		if !op.evict {
			setBit(st.Verified, op.piece)
		}
	}
	return nil
}

// verified queues piece p's record. Called with the cache's mu held.
func (j *journal) verified(p int) {
	if j == nil {
		return
	}
	now := time.Now()
	j.mu.Lock()
	j.pending = append(j.pending, pendingRecord{p, now})
	j.pendingAt[p] = now
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
}

// evicted writes piece p's eviction record before its hole is punched,
// and drops a verified record not written yet. Called with the cache's
// mu held.
func (j *journal) evicted(p int) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.pendingAt, p)
	delete(j.inflight, p)
	rec := appendBatch(nil, []uint32{uint32(p) | evictBit})
	j.evictions++
	for _, f := range []*os.File{j.prev, j.f} {
		if f == nil {
			continue
		}
		if err := appendTo(f, rec); err != nil {
			j.log("cache: cannot record an evicted piece; the next start after a crash will check it again", err)
			return
		}
		j.unsynced[p] = j.evictions
	}
}

// barrier flushes the journal if piece p's eviction is not on disk yet:
// new data must not land in p's range while a record on disk still
// vouches for the old.
func (j *journal) barrier(p int) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.unsynced[p]; !ok {
		return
	}
	for _, f := range []*os.File{j.prev, j.f} {
		if f == nil {
			continue
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			j.log("cache: cannot flush the journal", err)
			return
		}
	}
	clear(j.unsynced)
}

// begin makes f, called name, the journal records go to from now on,
// and drops the records not written yet: the state being saved holds
// them. Until end, evictions are recorded in the previous journal too,
// which stays the one on disk if the save fails. Called with the cache's
// mu held, while saving (so no flush is in progress).
func (j *journal) begin(f *os.File, name string) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.prev = j.f
	j.f, j.name = f, name
	j.pending = nil
	clear(j.pendingAt)
}

// end finishes a save begun with begin: the new journal stays if ok,
// else the previous one is restored. The records begin took are dropped
// then (a piece among them may have been evicted since): those pieces
// are fetched again after a crash, until the next save.
func (j *journal) end(ok bool) {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if ok {
		if j.prev != nil {
			j.prev.Close()
		}
	} else {
		if j.f != nil {
			j.f.Close()
			os.Remove(j.f.Name())
		}
		j.f = j.prev
	}
	j.prev = nil
}

// close closes the journal file; records are dropped from then on.
func (j *journal) close() {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// appendTo appends batches to a journal. A failed write is cut off, lest
// a partial batch end the replay before the batches written after it.
// Called with j.mu held.
func appendTo(f *os.File, b []byte) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err = f.Write(b); err != nil {
		if terr := f.Truncate(end); terr != nil {
			err = errors.Join(err, terr)
		}
	}
	return err
}

// flushAged writes the pending verified records of the pieces verified
// at least age ago: first the data of their pieces is flushed, then the
// records, then the journal.
func (c *Cache) flushAged(age time.Duration) error {
	j := c.journal
	c.saveMu.Lock() // not while a save swaps the journal
	defer c.saveMu.Unlock()
	j.mu.Lock()
	cut := time.Now().Add(-age)
	n := 0
	var batch []int
	for ; n < len(j.pending) && !j.pending[n].at.After(cut); n++ {
		r := j.pending[n]
		if at, ok := j.pendingAt[r.piece]; ok && at.Equal(r.at) {
			batch = append(batch, r.piece)
			delete(j.pendingAt, r.piece)
			j.inflight[r.piece] = true
		}
	}
	j.pending = slices.Delete(j.pending, 0, n)
	j.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	dataErr := c.syncData(batch)

	j.mu.Lock()
	var recs []uint32
	for _, p := range batch {
		if j.inflight[p] && dataErr == nil {
			recs = append(recs, uint32(p))
		}
		delete(j.inflight, p)
	}
	f := j.f
	var err error
	if f != nil {
		var buf []byte
		for len(recs) > 0 {
			n := min(len(recs), maxBatch)
			buf = appendBatch(buf, recs[:n])
			recs = recs[n:]
		}
		if len(buf) > 0 {
			err = appendTo(f, buf)
		}
	}
	// The eviction records written so far are flushed below; until
	// then barrier flushes them itself.
	flushed := j.evictions
	j.mu.Unlock()
	if dataErr != nil {
		return fmt.Errorf("cache: flushing verified pieces to disk: %w", dataErr)
	}
	if f == nil {
		return nil
	}
	if err == nil {
		err = unix.Fdatasync(int(f.Fd()))
	}
	if err != nil {
		return fmt.Errorf("cache: writing the journal: %w", err)
	}
	j.mu.Lock()
	maps.DeleteFunc(j.unsynced, func(_ int, n uint64) bool { return n <= flushed })
	j.mu.Unlock()
	return nil
}

// syncData writes the data of pieces to disk and waits for it: with
// holdDirty the ranges they cover alone, so that the pages of pieces
// verified since stay in memory (see recordAfter); otherwise with
// fdatasync of the backing files that hold them.
func (c *Cache) syncData(pieces []int) error {
	var ranges []hole
	for _, p := range pieces {
		for _, s := range c.info.PieceSpans(p) {
			if stored(c.info, s.File) {
				ranges = append(ranges, hole{file: s.File, off: s.Offset, n: s.Length})
			}
		}
	}
	synced := -1 // the file fdatasync flushed last; ranges come by file
	for _, r := range mergeHoles(ranges) {
		if !c.holdDirty && r.file == synced {
			continue
		}
		h, err := c.files.acquire(r.file)
		if err != nil {
			return err
		}
		op := "sync_file_range"
		if c.holdDirty {
			err = unix.SyncFileRange(int(h.f.Fd()), r.off, r.n,
				unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER)
		} else {
			op, synced = "fdatasync", r.file
			err = unix.Fdatasync(int(h.f.Fd()))
		}
		c.files.release(h)
		if err != nil {
			return &os.PathError{Op: op, Path: c.files.paths[r.file], Err: err}
		}
	}
	return nil
}

// journaler flushes the journal journalDelay after a piece verified, or
// once pieces have been held recordAfter with holdDirty, until
// ctx is cancelled.
func (c *Cache) journaler(ctx context.Context) {
	defer close(c.journalerDone)
	age := time.Duration(0)
	if c.holdDirty {
		age = recordAfter
	}
	j := c.journal
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(journalDelay):
		}
		if err := c.flushAged(age); err != nil {
			c.log.Warn("cache: cannot record verified pieces; the next start after a crash will fetch them again", "err", err)
		}
		j.mu.Lock()
		left := len(j.pendingAt) > 0
		j.mu.Unlock()
		if left {
			select {
			case j.wake <- struct{}{}:
			default:
			}
		}
	}
}

// holeFree reports whether piece p's stored ranges hold no hole: a
// piece the journal vouches for whose hole was punched before its
// eviction record reached the disk (a power cut) reads as zeros.
func (c *Cache) holeFree(p int) bool {
	for _, s := range c.info.PieceSpans(p) {
		if !stored(c.info, s.File) || s.Length == 0 {
			continue
		}
		h, err := c.files.acquire(s.File)
		if err != nil {
			return false
		}
		next, err := unix.Seek(int(h.f.Fd()), s.Offset, unix.SEEK_HOLE)
		c.files.release(h)
		if err != nil || next < s.Offset+s.Length {
			return false
		}
	}
	return true
}

// removeOtherJournals deletes the journals of stateFile other than keep
// (left by a save that died, or by the save that replaced them).
func removeOtherJournals(stateFile, keep string) {
	matches, _ := filepath.Glob(stateFile + ".journal-*")
	for _, m := range matches {
		if keep == "" || m != journalPath(stateFile, keep) {
			os.Remove(m)
		}
	}
}

// Recorded returns the pieces the resume state at stateFile, with its
// journal, records as verified: those the next Open trusts after a crash
// (unless their data has gone meanwhile) or after a clean Close. It may
// be called while a cache is saving to stateFile.
func Recorded(stateFile string) ([]int, error) {
	for attempt := 0; ; attempt++ {
		data, err := os.ReadFile(stateFile)
		if err != nil {
			return nil, fmt.Errorf("reading the resume state: %w", err)
		}
		var st state
		if err := json.Unmarshal(data, &st); err != nil {
			return nil, fmt.Errorf("damaged state file %s: %w", stateFile, err)
		}
		n := len(st.Verified) * 8
		if !st.Clean {
			if st.Journal == "" {
				return nil, nil // nothing is trusted after a crash
			}
			st.Unproven = make([]byte, len(st.Verified))
			st.Partial = make([]byte, len(st.Verified))
			err := replay(&st, stateFile, n)
			if errors.Is(err, os.ErrNotExist) && attempt < 3 {
				continue // a save replaced the state and its journal meanwhile
			}
			if err != nil {
				return nil, err
			}
		}
		var pieces []int
		for p := range n {
			if bitSet(st.Verified, p) {
				pieces = append(pieces, p)
			}
		}
		return pieces, nil
	}
}
