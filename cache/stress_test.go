package cache

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/bytesize"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestManyFilesBoundedDescriptors downloads and reads a 10,000-file torrent
// with at most 16 backing files open.
func TestManyFilesBoundedDescriptors(t *testing.T) {
	files := make([]testFile, 10_000)
	for i := range files {
		files[i] = testFile{name: fmt.Sprintf("f%05d", i), length: int64(50 + i%200)}
	}
	tt := newTorrent(t, 30, 16<<10, files...)
	const maxOpen = 16
	base := openFDs(t)
	c := open(t, tt, Options{Dir: t.TempDir(), MaxOpenFiles: maxOpen})
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
		if got := openFDs(t) - base; got > maxOpen {
			t.Fatalf("%d descriptors open after piece %d, want <= %d", got, p, maxOpen)
		}
	}
	checkRead(t, c, tt, 0, tt.info.Length)
	if st := c.Stats(); st.OpenFiles > maxOpen {
		t.Fatalf("OpenFiles = %d, want <= %d", st.OpenFiles, maxOpen)
	}
	if got := openFDs(t) - base; got > maxOpen {
		t.Fatalf("%d descriptors open, want <= %d", got, maxOpen)
	}
}

// TestDiskFull fills a 1 MiB tmpfs: the failing piece is dropped with an
// error that still says ENOSPC, and verified pieces stay readable.
func TestDiskFull(t *testing.T) {
	dir := tinyTmpfs(t)
	tt := newTorrent(t, 31, 64<<10, testFile{name: "x", length: 2 << 20})

	// Unlimited budget preallocates: a torrent larger than the disk is
	// refused up front.
	if _, err := Open(tt.info, Options{Dir: filepath.Join(dir, "prealloc")}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Open with preallocation on a full disk: %v, want ENOSPC", err)
	}
	os.RemoveAll(filepath.Join(dir, "prealloc"))

	c := open(t, tt, Options{Dir: filepath.Join(dir, "sparse"), Budget: 3 << 19}) // 1.5 MiB: more than the disk
	var failed = -1
	for p := range tt.info.NumPieces() {
		err := writePiece(c, p, tt.piece(p), 16<<10)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("piece %d: %v, want an ENOSPC error", p, err)
			}
			failed = p
			break
		}
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) = %v, %v", p, ok, err)
		}
	}
	if failed < 0 {
		t.Fatal("a 2 MiB torrent fit on a 1 MiB tmpfs")
	}
	if c.Have(failed) {
		t.Fatalf("piece %d is readable after its write failed", failed)
	}
	if _, err := c.Verify(failed); err == nil {
		t.Fatalf("Verify of dropped piece %d succeeded", failed)
	}
	for p := range failed {
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
	if st := c.Stats(); st.Verified != failed {
		t.Fatalf("Verified = %d, want %d", st.Verified, failed)
	}
}

// TestConcurrentUse runs writers, readers and provers of different pieces
// at once under eviction pressure; run with -race.
func TestConcurrentUse(t *testing.T) { forRunSizes(t, testConcurrentUse) }

func testConcurrentUse(t *testing.T, run int) {
	tt := newTorrent(t, 32, 16<<10, testFile{name: "a", length: 700_000}, testFile{name: "b", length: 300_001})
	dir := t.TempDir()
	const budget = 24 * 16 << 10
	c := open(t, tt, Options{Dir: dir, Budget: budget, MaxOpenFiles: 1})
	c.runSize = run
	n := tt.info.NumPieces()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Go(func() {
			// Each writer owns the pieces p ≡ w (mod 4), so no two write
			// the same piece, as the engine guarantees.
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 150 {
				p := rng.IntN(n/4)*4 + w
				// Like the engine, download only what is missing: blocks
				// for a verified piece are ignored, and if it were evicted
				// half way the piece would be incomplete.
				if p >= n || c.Have(p) {
					continue
				}
				err := writePiece(c, p, tt.piece(p), 4096)
				if errors.Is(err, ErrBudget) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if ok, err := c.Verify(p); !ok || err != nil {
					errs <- fmt.Errorf("Verify(%d) = %v, %v", p, ok, err)
					return
				}
			}
		})
	}
	for r := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			b := make([]byte, 40_000)
			for range 400 {
				off := rng.Int64N(tt.info.Length - int64(len(b)))
				nr, err := c.ReadAt(b, off)
				if isNotVerified(err) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(b[:nr], tt.data[off:off+int64(nr)]) {
					errs <- fmt.Errorf("ReadAt(%d) returned wrong bytes", off)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 200 {
			c.VerifiedBytes(0, tt.info.Length)
			c.Stats()
			c.Prove(rand.IntN(n))
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkInvariants(t, c)
	c.drainPunches()
	if st := c.Stats(); st.Used > budget || diskUsage(t, dir) > budget {
		t.Fatalf("over budget after concurrent use: %+v, disk %d", st, diskUsage(t, dir))
	}
}

// TestDiscardRacesWrites discards pieces while their blocks are being
// written: no write may land after the hole is punched, so once every
// unverified piece is discarded the disk holds only verified pieces.
func TestDiscardRacesWrites(t *testing.T) { forRunSizes(t, testDiscardRacesWrites) }

func testDiscardRacesWrites(t *testing.T, run int) {
	tt := newTorrent(t, 33, 16<<10, testFile{name: "a", length: 64 * 16 << 10})
	dir := t.TempDir()
	const budget = 16 * 16 << 10
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	c.runSize = run
	n := tt.info.NumPieces()
	var writers, discarder sync.WaitGroup
	stop := make(chan struct{})
	discarder.Go(func() {
		rng := rand.New(rand.NewPCG(5, 5))
		for {
			select {
			case <-stop:
				return
			default:
				c.Discard(rng.IntN(n))
			}
		}
	})
	for w := range 3 {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			for range 200 {
				p := rng.IntN(n/3)*3 + w
				if err := writePiece(c, p, tt.piece(p), 8<<10); err != nil && !errors.Is(err, ErrBudget) {
					t.Errorf("writing piece %d: %v", p, err)
					return
				}
				c.Verify(p) // may fail: the discarder got there first
			}
		})
	}
	writers.Wait()
	close(stop)
	discarder.Wait()
	for p := range n {
		c.Discard(p)
		if c.Have(p) {
			checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
		}
	}
	checkInvariants(t, c)
	st := c.Stats()
	if st.Verified == 0 {
		t.Fatal("no piece survived; the test proves nothing")
	}
	c.drainPunches()
	if du := diskUsage(t, dir); du > st.Used || st.Used > budget {
		t.Fatalf("after discarding everything unverified: on disk %d, accounted %d, budget %d", du, st.Used, budget)
	}
}

// TestDiscardWaitsForWriteInFlight: the hole of a discarded piece is
// punched only after writes already in flight have landed, otherwise
// their bytes would stay on disk uncharged.
func TestDiscardWaitsForWriteInFlight(t *testing.T) {
	tt := newTorrent(t, 34, 16<<10, testFile{name: "a", length: 8 * 16 << 10})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 4 * 16 << 10})
	if err := c.WriteBlock(1, 0, tt.piece(1)[:4096]); err != nil {
		t.Fatal(err)
	}
	if pt, err := c.startWrite(1); pt == nil || err != nil { // a pwrite in flight
		t.Fatalf("startWrite = %v, %v", pt, err)
	}
	done := make(chan struct{})
	go func() { c.Discard(1); close(done) }()
	select {
	case <-done:
		t.Fatal("Discard returned while a write was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	c.mu.Lock()
	c.pieces[1].writers--
	c.writing--
	c.changed.Broadcast()
	c.mu.Unlock()
	<-done
	if st := c.Stats(); st.Used != 0 {
		t.Fatalf("Used = %d after Discard, want 0", st.Used)
	}
}

// TestDiskFullShrinksBudget: the write the full disk refuses fails with a
// *DiskFullError naming the cache directory and sizes, the budget drops
// to what the disk holds, and from then on new pieces evict old ones
// instead of meeting the full disk again.
func TestDiskFullShrinksBudget(t *testing.T) {
	dir := filepath.Join(tinyTmpfs(t), "sparse")
	tt := newTorrent(t, 33, 64<<10, testFile{name: "x", length: 2 << 20})
	const budget = 3 << 19 // 1.5 MiB: more than the disk
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	var evicted atomic.Int32
	c.OnEvict(func(int) { evicted.Add(1) })
	failed := -1
	var full *DiskFullError
	for p := range tt.info.NumPieces() {
		err := writePiece(c, p, tt.piece(p), 16<<10)
		if err == nil {
			_, err = c.Verify(p)
		}
		if err != nil {
			if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &full) {
				t.Fatalf("piece %d: %v; want a *DiskFullError matching ErrDiskFull and ENOSPC", p, err)
			}
			failed = p
			break
		}
	}
	if failed < 0 {
		t.Fatal("a 2 MiB torrent fit on a 1 MiB tmpfs")
	}
	if full.Dir != dir || full.Held != int64(failed)*c.footprint[0] || full.Budget < full.Held || full.Budget >= budget {
		t.Fatalf("DiskFullError = %+v; want dir %s, %d pieces held, a budget between that and %d", full, dir, failed, budget)
	}
	for _, want := range []string{"cache disk full", dir, bytesize.Format(full.Held), bytesize.Format(full.Budget)} {
		if !strings.Contains(full.Error(), want) {
			t.Fatalf("%q does not say %q", full.Error(), want)
		}
	}
	if got := c.Capacity(); got != full.Budget {
		t.Fatalf("Capacity = %d after the disk filled, want the new budget %d", got, full.Budget)
	}
	if st := c.Stats(); st.Budget != full.Budget {
		t.Fatalf("Stats.Budget = %d, want %d", st.Budget, full.Budget)
	}
	// The rest of the torrent goes through the smaller budget: every
	// piece fits by evicting, and the disk is never full again.
	for p := failed; p < tt.info.NumPieces(); p++ {
		if err := writePiece(c, p, tt.piece(p), 16<<10); err != nil {
			t.Fatalf("piece %d after the budget shrank: %v", p, err)
		}
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) after the budget shrank = %v, %v", p, ok, err)
		}
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
	if evicted.Load() == 0 {
		t.Fatal("nothing was evicted to fit the rest of the torrent")
	}
	if st := c.Stats(); st.Used > full.Budget {
		t.Fatalf("Used = %d, over the new budget %d", st.Used, full.Budget)
	}
}

// TestDiskFullCloseKeepsVerified: Close on a disk filled to the last
// block still saves the state, making room by dropping the journals, so
// the next Open (once there is room again) has every verified piece.
func TestDiskFullCloseKeepsVerified(t *testing.T) {
	dir := tinyTmpfs(t)
	tt := newTorrent(t, 34, 64<<10, testFile{name: "x", length: 2 << 20})
	opts := Options{Dir: filepath.Join(dir, "data"), StateFile: filepath.Join(dir, "state"), Budget: 3 << 19}
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatal(err)
	}
	failed := -1
	for p := range tt.info.NumPieces() {
		err := writePiece(c, p, tt.piece(p), 16<<10)
		if err == nil {
			_, err = c.Verify(p)
		}
		if err != nil {
			if !errors.Is(err, ErrDiskFull) {
				c.Close()
				t.Fatalf("piece %d: %v; want ErrDiskFull", p, err)
			}
			failed = p
			break
		}
	}
	// Whatever room the dropped piece left goes too.
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 4096))
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		c.Close()
		t.Fatalf("filling the disk: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close on a full disk: %v", err)
	}
	if failed < 1 {
		t.Fatalf("the disk filled at piece %d", failed)
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	c = open(t, tt, opts)
	if err := c.ProveAll(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Verified != failed {
		t.Fatalf("Verified = %d after reopening, want the %d pieces verified before the disk filled", st.Verified, failed)
	}
	for p := range failed {
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
}
