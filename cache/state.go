package cache

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/torfs/torfs/internal/atomicfile"
)

const stateVersion = 1

// state is the resume file's content.
type state struct {
	Version int `json:"version"`
	// Torrent identifies the torrent: hex SHA-1 of its piece hashes.
	Torrent string `json:"torrent"`
	// Clean is set only by Close; a state saved while running is unclean.
	Clean bool `json:"clean"`
	// Bitfields over pieces, most significant bit first.
	Verified []byte `json:"verified"`
	Unproven []byte `json:"unproven"`
	// Partial marks pieces being written at save time: their blocks are
	// freed at the next Open.
	Partial []byte       `json:"partial"`
	Files   []fileRecord `json:"files"`
	// Journal names the journal continuing an unclean state (see
	// journal.go). It is set only when the data of every verified piece
	// was on disk before the state was written, so that the state's
	// verified pieces, and those the journal adds, are trusted after a
	// crash. Versions that do not know it treat the state as before.
	Journal string `json:"journal,omitempty"`
}

// fileRecord is a backing file as it was when the state was saved.
type fileRecord struct {
	Size  int64 `json:"size"`
	MTime int64 `json:"mtime"` // Unix nanoseconds
}

func torrentID(pieces []byte) string {
	sum := sha1.Sum(pieces)
	return hex.EncodeToString(sum[:])
}

func bitSet(b []byte, i int) bool { return i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0 }
func setBit(b []byte, i int)      { b[i/8] |= 0x80 >> (i % 8) }
func clearBit(b []byte, i int)    { b[i/8] &^= 0x80 >> (i % 8) }

// loadState reads the state file; a missing, unreadable or foreign state
// is nil (existing data is then treated as unproven).
func (c *Cache) loadState(pre []fileStat) *state {
	if c.opts.StateFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.opts.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var st *state
	if err == nil {
		st, err = parseState(data, c.stateID(), len(c.pieces), len(pre))
	}
	if err != nil {
		c.log.Warn("cache: ignoring the resume state; existing data will be checked again", "file", c.opts.StateFile, "err", err)
		return nil
	}
	if st.Journal != "" && !st.Clean {
		if err := replay(st, c.opts.StateFile, len(c.pieces)); err != nil {
			c.log.Warn("cache: ignoring the resume journal; existing data will be checked again", "file", c.opts.StateFile, "err", err)
			st.Journal = ""
		}
	}
	return st
}

// parseState decodes a state file and checks that it belongs to the
// torrent identified by id, with npieces pieces and nfiles files.
func parseState(data []byte, id string, npieces, nfiles int) (*state, error) {
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("damaged state file: %w", err)
	}
	nbytes := (npieces + 7) / 8
	switch {
	case st.Version != stateVersion:
		return nil, fmt.Errorf("state file version %d, want %d", st.Version, stateVersion)
	case st.Torrent != id:
		return nil, errors.New("state file belongs to another torrent")
	case len(st.Files) != nfiles || len(st.Verified) != nbytes || len(st.Unproven) != nbytes || len(st.Partial) != nbytes:
		return nil, errors.New("state file does not match the torrent's geometry")
	}
	return &st, nil
}

// restore sets every piece's initial state from the saved state (nil:
// none) and what the backing files looked like before Open.
func (c *Cache) restore(st *state, pre []fileStat) {
	changed := make([]bool, len(pre))
	for k, fs := range pre {
		if st != nil {
			r := st.Files[k]
			changed[k] = !fs.exists || fs.size != r.Size || fs.mtime != r.MTime
		}
	}
	// Blocks of pieces nobody vouches for (written before a crash, or
	// being written at the last Close) are not charged: free them so that
	// disk use stays within the budget accounting.
	var free []int
	for p := range c.pieces {
		onDisk, touched := c.pieceFiles(p, pre, changed)
		next := stateMissing
		switch {
		case !onDisk:
		case st == nil:
			next = stateUnproven
		case bitSet(st.Verified, p) && st.Clean && !touched:
			next = stateVerified
		case bitSet(st.Verified, p) && st.Journal != "" && !st.Clean:
			// Its data was on disk before the record; a hole means an
			// eviction whose record did not reach the disk.
			next = stateUnproven
			if c.holeFree(p) {
				next = stateVerified
			}
		case bitSet(st.Verified, p) || bitSet(st.Unproven, p):
			next = stateUnproven
		}
		c.pieces[p].state = next
		switch next {
		case stateVerified:
			c.verified++
		case stateUnproven:
			c.unproven++
		}
		if next != stateMissing {
			c.charge(c.footprint[p])
			c.lruAdd(p)
		} else if onDisk && st != nil && (!st.Clean || bitSet(st.Partial, p)) {
			free = append(free, p)
		}
	}
	// Open is not concurrent with anything yet, so mu need not be held.
	c.punch(c.holesLocked(free))
}

// pieceFiles reports whether all of piece p's stored ranges existed
// before Open, and whether any of its files changed since the state.
func (c *Cache) pieceFiles(p int, pre []fileStat, changed []bool) (onDisk, touched bool) {
	onDisk = true
	for _, s := range c.info.PieceSpans(p) {
		if !stored(c.info, s.File) {
			continue
		}
		if !pre[s.File].exists || pre[s.File].size < s.Offset+s.Length {
			onDisk = false
		}
		touched = touched || changed[s.File]
	}
	return onDisk, touched
}

// snapshot captures the piece states for saving and, unless clean, in
// the same instant makes the journal f (called name; nil for none) the
// one that records the changes from then on.
func (c *Cache) snapshot(clean bool, f *os.File, name string) *state {
	nbytes := (len(c.pieces) + 7) / 8
	st := &state{
		Version:  stateVersion,
		Torrent:  c.stateID(),
		Clean:    clean,
		Verified: make([]byte, nbytes),
		Unproven: make([]byte, nbytes),
		Partial:  make([]byte, nbytes),
		Journal:  name,
	}
	c.mu.Lock()
	for p := range c.pieces {
		switch c.pieces[p].state {
		case stateVerified:
			setBit(st.Verified, p)
		case stateUnproven, stateProving:
			setBit(st.Unproven, p)
		case stateWriting, stateVerifying, stateDropping:
			setBit(st.Partial, p)
		}
	}
	c.dirty = false
	if !clean {
		c.journal.begin(f, name)
	}
	c.mu.Unlock()
	return st
}

// save writes the state file atomically: a temp file in the same
// directory, fsynced, renamed over the old one, and the directory synced.
// An unclean save also compacts the journal: the state it writes names a
// new, empty journal, after flushing the data its verified pieces hold.
func (c *Cache) save(clean bool) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	var f *os.File
	var name string
	if !clean {
		var err error
		if f, name, err = createJournal(c.opts.StateFile); err != nil {
			c.log.Warn("cache: cannot start a resume journal; after a crash, pieces will be checked again", "err", err)
		}
	}
	st := c.snapshot(clean, f, name)
	// A state trusted without hashing (clean, or with a journal) vouches
	// for data that must be on disk before it is, or a power cut could
	// leave a trusted piece that reads as zeros.
	syncErr := c.syncWritten()
	if syncErr != nil {
		st.Clean, st.Journal = false, ""
	}
	st.Files = make([]fileRecord, len(c.files.paths))
	for k, path := range c.files.paths {
		if path == "" {
			continue
		}
		if fi, err := os.Stat(path); err == nil {
			st.Files[k] = fileRecord{Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
		}
	}
	data, err := json.Marshal(st)
	if err == nil {
		err = writeAtomic(c.opts.StateFile, data)
	}
	if clean {
		c.journal.close()
	} else {
		c.journal.end(err == nil)
	}
	if err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
		return fmt.Errorf("cache: saving state to %s: %w", c.opts.StateFile, err)
	}
	removeOtherJournals(c.opts.StateFile, st.Journal)
	if syncErr != nil {
		return fmt.Errorf("cache: flushing data to disk (the next start will check it again): %w", syncErr)
	}
	return nil
}

// syncWritten flushes every backing file written since the last flush.
func (c *Cache) syncWritten() error {
	for k := range c.written {
		// Cleared before the flush: a write landing meanwhile marks the
		// file again for the next one.
		if !c.written[k].Swap(false) {
			continue
		}
		h, err := c.files.acquire(k)
		if err == nil {
			err = h.f.Sync()
			c.files.release(h)
		}
		if err != nil {
			c.written[k].Store(true)
			return err
		}
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// syncDir flushes a directory, so that the names created in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// saver saves a changed state every SaveInterval until ctx is cancelled.
func (c *Cache) saver(ctx context.Context) {
	defer close(c.saverDone)
	if c.opts.StateFile == "" {
		return
	}
	t := time.NewTicker(c.opts.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.mu.Lock()
			dirty := c.dirty
			c.mu.Unlock()
			if dirty {
				if err := c.save(false); err != nil {
					c.log.Warn("cache: cannot save resume state", "err", err)
				}
			}
		}
	}
}
