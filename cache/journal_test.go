package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"golang.org/x/sys/unix"
)

// journalTorrent is 24 pieces of 16 KiB in one file, so that on 4 KiB
// blocks each piece owns whole blocks and an eviction punches all of it.
func journalTorrent(t testing.TB) *torrent {
	return newTorrent(t, 40, 16<<10, testFile{name: "x", length: 24 << 14})
}

// stopBackground stops c's saver and journaler, so that only the test
// flushes the journal and saves.
func stopBackground(c *Cache) {
	c.stopSaver()
	<-c.saverDone
	<-c.journalerDone
}

// loadTestState reads the state a cache left at path.
func loadTestState(t *testing.T, path string) *state {
	t.Helper()
	var st state
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &st
}

// copyDir copies the regular files of src (recursively) into dst,
// leaving holes where src reads zero blocks, so that punched ranges stay
// holes.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		defer out.Close()
		const bs = 4 << 10
		zero := make([]byte, bs)
		for off := 0; off < len(data); off += bs {
			b := data[off:min(off+bs, len(data))]
			if !bytes.Equal(b, zero[:len(b)]) {
				if _, err := out.WriteAt(b, int64(off)); err != nil {
					return err
				}
			}
		}
		return out.Truncate(int64(len(data)))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkAfterCrash opens the cache left in dir and checks that exactly the
// pieces in want are verified, with the right bytes, and nothing else
// is readable.
func checkAfterCrash(t *testing.T, tt *torrent, dir string, budget int64, want map[int]bool) *Cache {
	t.Helper()
	c := open(t, tt, Options{Dir: dir, StateFile: filepath.Join(dir, "state"), Budget: budget})
	for p := range tt.info.NumPieces() {
		if c.Have(p) != want[p] {
			t.Fatalf("after the crash Have(%d) = %v, want %v", p, c.Have(p), want[p])
		}
		if want[p] {
			checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
		} else if _, err := c.ReadAt(make([]byte, 1), tt.info.PieceOffset(p)); !isNotVerified(err) {
			t.Fatalf("after the crash, reading piece %d: %v, want ErrNotVerified", p, err)
		}
	}
	checkInvariants(t, c)
	return c
}

// TestJournalTornTail cuts the journal at every offset of its last
// batch, as a crash in the middle of writing it would, and damages it:
// the earlier batches always count, the last one only when whole, and a
// piece written but not verified never.
func TestJournalTornTail(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c, err := Open(tt.info, Options{Dir: dir, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	stopBackground(c)
	batches := [][]int{{0, 1, 2, 3}, {7, 5}, {9, 10, 11}}
	for _, b := range batches {
		for _, p := range b {
			download(t, c, tt, p)
		}
		if err := c.flushJournal(); err != nil {
			t.Fatal(err)
		}
	}
	// Piece 12 is written in full but never verified; 13 half written.
	if err := writePiece(c, 12, tt.piece(12), 4<<10); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBlock(13, 0, tt.piece(13)[:8<<10]); err != nil {
		t.Fatal(err)
	}
	crash(c)

	jpath := journalPath(state, loadTestState(t, state).Journal)
	full, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	lastStart := len(full) - (2 + 4*len(batches[2]) + 4)
	if lastStart <= journalHdr {
		t.Fatalf("journal of %d bytes holds less than the batches", len(full))
	}
	early := map[int]bool{0: true, 1: true, 2: true, 3: true, 5: true, 7: true}
	all := map[int]bool{9: true, 10: true, 11: true}
	for p := range early {
		all[p] = true
	}
	try := func(name string, journal []byte, want map[int]bool) {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			if err := os.WriteFile(journalPath(filepath.Join(d, "state"), loadTestState(t, state).Journal), journal, 0o644); err != nil {
				t.Fatal(err)
			}
			checkAfterCrash(t, tt, d, 0, want)
		})
	}
	for cut := lastStart; cut < len(full); cut++ {
		try("cut", full[:cut], early)
	}
	try("whole", full, all)
	try("garbage tail", append(bytes.Clone(full), 0, 3, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4), all)
	for _, at := range []int{lastStart, lastStart + 3, len(full) - 1} {
		torn := bytes.Clone(full)
		torn[at] ^= 0x10
		try("torn record", torn, early)
	}
	// A damaged batch in the middle ends the replay: what follows it is
	// not trusted either.
	mid := bytes.Clone(full)
	mid[journalHdr+2+4+1] ^= 1
	try("damaged first batch", mid, nil)
	badHdr := bytes.Clone(full)
	badHdr[3] ^= 1
	try("damaged header", badHdr, nil)
}

// TestJournalEvictionThenCrash: a piece evicted to make room is not
// vouched for after a crash, whether its eviction record reached the
// disk (a killed process) or not (a power cut after the hole was
// punched).
func TestJournalEvictionThenCrash(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	budget := int64(4 << 14)
	c, err := Open(tt.info, Options{Dir: dir, StateFile: state, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	stopBackground(c)
	if c.blockSize > 16<<10 {
		t.Skipf("blocks of %d bytes are larger than a piece", c.blockSize)
	}
	for p := range 4 {
		download(t, c, tt, p)
	}
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	jpath := journalPath(state, loadTestState(t, state).Journal)
	before, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	download(t, c, tt, 4) // evicts piece 0, punching its blocks
	if c.Have(0) {
		t.Fatal("piece 0 was not evicted")
	}
	if !hasHole(t, filepath.Join(dir, tt.info.Name), 0, 16<<10) {
		t.Skip("this filesystem does not punch holes")
	}
	crash(c)

	t.Run("killed", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		checkAfterCrash(t, tt, d, budget, map[int]bool{1: true, 2: true, 3: true})
	})
	t.Run("power cut", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		// The eviction record never reached the disk; the hole did.
		if err := os.WriteFile(journalPath(filepath.Join(d, "state"), loadTestState(t, state).Journal), before, 0o644); err != nil {
			t.Fatal(err)
		}
		c := checkAfterCrash(t, tt, d, budget, map[int]bool{1: true, 2: true, 3: true})
		if !c.Unproven(0) {
			t.Fatal("piece 0, vouched for but punched, is not unproven")
		}
		if ok, err := c.Prove(0); ok || err != nil {
			t.Fatalf("Prove(0) of a punched piece = %v, %v; want false", ok, err)
		}
	})
}

// hasHole reports whether [off, off+n) of the file at path holds a hole.
func hasHole(t *testing.T, path string, off, n int64) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	next, err := unix.Seek(int(f.Fd()), off, unix.SEEK_HOLE)
	return err == nil && next < off+n
}

// TestJournalRewriteAfterEviction: before new data lands in an evicted
// piece's range, its eviction record is flushed, so that no record on
// disk vouches for the range while it holds unverified bytes.
func TestJournalRewriteAfterEviction(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir, StateFile: filepath.Join(dir, "state"), Budget: 2 << 14})
	stopBackground(c)
	download(t, c, tt, 0)
	download(t, c, tt, 1)
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	download(t, c, tt, 2) // evicts 0
	c.journal.mu.Lock()
	_, unsynced := c.journal.unsynced[0]
	c.journal.mu.Unlock()
	if !unsynced {
		t.Fatal("the eviction of piece 0 was not recorded")
	}
	if err := c.WriteBlock(0, 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	c.journal.mu.Lock()
	_, unsynced = c.journal.unsynced[0]
	c.journal.mu.Unlock()
	if unsynced {
		t.Fatal("piece 0 was written again before its eviction record was flushed")
	}
}

// TestJournalRandomCrashes downloads, evicts, rewrites and flushes at
// random, crashes at a random moment and checks the restart: every piece
// recorded and still held is verified, nothing is verified that was not
// verified at the crash, and every verified byte is right.
func TestJournalRandomCrashes(t *testing.T) {
	tt := journalTorrent(t)
	n := tt.info.NumPieces()
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		dir := t.TempDir()
		budget := int64(0)
		if seed%2 == 1 {
			budget = 6 << 14
		}
		opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state"), Budget: budget}
		c, err := Open(tt.info, opts)
		if err != nil {
			t.Fatal(err)
		}
		kept, partial := map[int]bool{}, map[int]bool{}
		for range 10 + rng.IntN(60) {
			p := rng.IntN(n)
			switch r := rng.IntN(10); {
			case r < 6:
				if !c.Have(p) {
					download(t, c, tt, p)
					delete(partial, p)
				}
			case r < 7:
				// Unverified, wrong, bytes over a piece's range (at most
				// two pieces so, lest they fill the budget).
				if !c.Have(p) && (partial[p] || len(partial) < 2) {
					partial[p] = true
					junk := make([]byte, 4<<10)
					for i := range junk {
						junk[i] = byte(rng.Uint32())
					}
					if err := c.WriteBlock(p, 0, junk); err != nil {
						t.Fatal(err)
					}
				}
			case r < 9:
				if err := c.flushJournal(); err != nil {
					t.Fatal(err)
				}
				for q := range n {
					if c.Have(q) {
						kept[q] = true
					}
				}
			default:
				if err := c.save(false); err != nil {
					t.Fatal(err)
				}
				for q := range n {
					if c.Have(q) {
						kept[q] = true
					}
				}
			}
			for q := range kept {
				if !c.Have(q) {
					delete(kept, q) // evicted
				}
			}
		}
		had := map[int]bool{}
		for q := range n {
			had[q] = c.Have(q)
		}
		crash(c)

		c = open(t, tt, opts)
		for q := range n {
			switch {
			case kept[q] && !c.Have(q):
				t.Fatalf("seed %d: piece %d, recorded before the crash, is not verified after it", seed, q)
			case c.Have(q) && !had[q]:
				t.Fatalf("seed %d: piece %d is verified after the crash but was not before it", seed, q)
			case c.Have(q):
				checkRead(t, c, tt, tt.info.PieceOffset(q), tt.info.PieceSize(q))
			}
		}
		checkInvariants(t, c)
		c.Close()
	}
}

// TestJournalCompaction: each save starts a new journal and removes the
// old one; Close leaves a clean state and no journal.
func TestJournalCompaction(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c, err := Open(tt.info, Options{Dir: dir, StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	stopBackground(c)
	first := loadTestState(t, state).Journal
	download(t, c, tt, 0)
	if got, err := Recorded(state); err != nil || len(got) != 0 {
		t.Fatalf("Recorded before the flush = %v, %v; want none", got, err)
	}
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	if got, err := Recorded(state); err != nil || !slices.Equal(got, []int{0}) {
		t.Fatalf("Recorded after the flush = %v, %v; want [0]", got, err)
	}
	if err := c.save(false); err != nil {
		t.Fatal(err)
	}
	st := loadTestState(t, state)
	if st.Journal == "" || st.Journal == first || !bitSet(st.Verified, 0) {
		t.Fatalf("after a save the state names journal %q (was %q), verified %x", st.Journal, first, st.Verified)
	}
	if _, err := os.Stat(journalPath(state, first)); !os.IsNotExist(err) {
		t.Fatalf("the old journal is still there: %v", err)
	}
	download(t, c, tt, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st := loadTestState(t, state); !st.Clean || st.Journal != "" {
		t.Fatalf("after Close: clean %v, journal %q", st.Clean, st.Journal)
	}
	if m, _ := filepath.Glob(state + ".journal-*"); len(m) != 0 {
		t.Fatalf("journals left after Close: %v", m)
	}
	if got, err := Recorded(state); err != nil || !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("Recorded after Close = %v, %v; want [0 1]", got, err)
	}
	c = open(t, tt, Options{Dir: dir, StateFile: state})
	if !c.Have(0) || !c.Have(1) {
		t.Fatalf("after a clean restart Have(0) = %v, Have(1) = %v", c.Have(0), c.Have(1))
	}
}

// TestStateWithoutJournalField: a clean state as versions before the
// journal wrote it opens with its pieces.
func TestStateWithoutJournalField(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c := open(t, tt, Options{Dir: dir, StateFile: state})
	download(t, c, tt, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"journal"`)) {
		t.Fatalf("a clean state names a journal: %s", b)
	}
	c = open(t, tt, Options{Dir: dir, StateFile: state})
	if !c.Have(3) {
		t.Fatal("piece 3 of a clean state without a journal is not verified")
	}
}

// BenchmarkJournal writes and verifies a 64 MiB torrent in 16 KiB blocks,
// in order, with a resume state (so the journal records every piece,
// flushing the data and itself in the background) and without, in the
// same run, and reports the wall time of the first as a ratio of the
// second (goal: <= 1.1). "flush-ms" is how long the last flush of the
// journal took after the last Verify. "evicting" has a 16 MiB budget, so
// that most pieces also write an eviction record.
func BenchmarkJournal(b *testing.B) {
	b.Run("kept", func(b *testing.B) { benchJournal(b, 0) })
	b.Run("evicting", func(b *testing.B) { benchJournal(b, 16<<20) })
}

func benchJournal(b *testing.B, budget int64) {
	tt := benchTorrent(b)
	pass := func(journal bool) (time.Duration, time.Duration) {
		dir := b.TempDir()
		opts := Options{Dir: filepath.Join(dir, "cache"), Budget: budget}
		if journal {
			opts.StateFile = filepath.Join(dir, "state")
		}
		c, err := Open(tt.info, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		for p := range tt.info.NumPieces() {
			download(b, c, tt, p)
		}
		wall := time.Since(start)
		start = time.Now()
		if journal {
			if err := c.flushJournal(); err != nil {
				b.Fatal(err)
			}
		}
		return wall, time.Since(start)
	}
	var with, without, flush time.Duration
	b.SetBytes(2 * tt.info.Length)
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first: the second runs while the kernel
		// still writes the first's pages back.
		for _, journal := range []bool{i%2 == 0, i%2 != 0} {
			w, f := pass(journal)
			if journal {
				with += w
				flush += f
			} else {
				without += w
			}
		}
	}
	ratio := float64(with) / float64(without)
	b.ReportMetric(ratio, "journal/plain")
	b.ReportMetric(float64(flush.Milliseconds())/float64(b.N), "flush-ms")
	fmt.Printf("%s: write+verify with the journal takes %.2f× the time without (%v vs %v over %d runs)\n", b.Name(), ratio, with, without, b.N)
}

// TestJournalerRecordsOnItsOwn: with no save due for an hour, the
// journaler records a verified piece by itself, and a crash then keeps it.
func TestJournalerRecordsOnItsOwn(t *testing.T) {
	tt := journalTorrent(t)
	dir := t.TempDir()
	opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state"), SaveInterval: time.Hour}
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatal(err)
	}
	download(t, c, tt, 5)
	testutil.Eventually(t, "piece 5 recorded in the journal", func() bool {
		got, err := Recorded(opts.StateFile)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Equal(got, []int{5})
	})
	crash(c)
	checkAfterCrash(t, tt, dir, 0, map[int]bool{5: true})
}

// FuzzParseJournal feeds arbitrary bytes to the journal decoder: it must
// never panic, and every op it returns names a piece of the torrent.
func FuzzParseJournal(f *testing.F) {
	const name, npieces = "0102030405060708", 40
	hdr := append([]byte(journalMagic), 1, 2, 3, 4, 5, 6, 7, 8)
	hdr = binary.BigEndian.AppendUint32(hdr, crc32.ChecksumIEEE(hdr))
	f.Add(appendBatch(appendBatch(bytes.Clone(hdr), []uint32{1, 2, 39}), []uint32{2 | evictBit}))
	f.Add(appendBatch(bytes.Clone(hdr), []uint32{40}))
	f.Add(append(bytes.Clone(hdr), 0xff, 0xff, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ops, err := parseJournal(data, name, npieces)
		if err != nil {
			return
		}
		for _, op := range ops {
			if op.piece < 0 || op.piece >= npieces {
				t.Fatalf("op on piece %d of %d", op.piece, npieces)
			}
		}
	})
}

// TestJournalNoRecordWithoutData: when a verified piece's data cannot be
// flushed to disk, no record vouches for it.
func TestJournalNoRecordWithoutData(t *testing.T) {
	tt := newTorrent(t, 41, 16<<10, testFile{name: "a", length: 64 << 10}, testFile{name: "b", length: 64 << 10})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c := open(t, tt, Options{Dir: dir, StateFile: state, MaxOpenFiles: 1})
	stopBackground(c)
	download(t, c, tt, 0) // in file a
	download(t, c, tt, 4) // in file b: a's descriptor is closed
	// File a cannot be opened to flush piece 0 any more.
	if err := os.Remove(c.files.paths[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.flushJournal(); err == nil {
		t.Fatal("flushJournal succeeded without flushing piece 0's file")
	}
	if got, err := Recorded(state); err != nil || len(got) != 0 {
		t.Fatalf("Recorded = %v, %v; want nothing while a piece's data is not on disk", got, err)
	}
}

// TestJournalEvictionStaysUnsyncedAfterAFailedFlush: a flush of the
// journal that fails on the data of its verified records does not count
// the eviction records written before it as flushed, so a piece written
// again after its eviction still has the eviction flushed first.
func TestJournalEvictionStaysUnsyncedAfterAFailedFlush(t *testing.T) {
	tt := newTorrent(t, 42, 16<<10, testFile{name: "a", length: 64 << 10}, testFile{name: "b", length: 64 << 10})
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir, StateFile: filepath.Join(dir, "state"), MaxOpenFiles: 1, Budget: 3 << 14})
	stopBackground(c)
	for _, p := range []int{4, 5, 6} { // file b
		download(t, c, tt, p)
	}
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	download(t, c, tt, 0) // file a; evicts piece 4
	if c.Have(4) {
		t.Fatal("piece 4 was not evicted")
	}
	download(t, c, tt, 7) // file b: a's descriptor is closed; evicts 5
	if err := os.Remove(c.files.paths[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.flushJournal(); err == nil {
		t.Fatal("flushJournal succeeded without flushing piece 0's file")
	}
	c.journal.mu.Lock()
	_, unsynced := c.journal.unsynced[4]
	c.journal.mu.Unlock()
	if !unsynced {
		t.Fatal("the eviction of piece 4 counts as flushed after a flush that failed before the journal's")
	}
}
