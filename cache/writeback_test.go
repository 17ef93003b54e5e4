package cache

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dirtyBytes returns how many bytes of the file at path are dirty in the
// page cache (cachestat, Linux 6.5), skipping the test where that cannot
// be told.
func dirtyBytes(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &st, 0); err != nil {
		t.Skipf("cannot count dirty pages (cachestat): %v", err)
	}
	return int64(st.Dirty) * int64(os.Getpagesize())
}

// TestWritebackBehindWriter: pieces written and verified have their
// writeback started behind the writer, so that what Close's fsync still
// has to write is about one writeback chunk, not the whole download.
func TestWritebackBehindWriter(t *testing.T) {
	dir := t.TempDir()
	// Without writeback started by someone, freshly written pages stay
	// dirty for half a minute; where they do not show as dirty there is
	// nothing to measure.
	control := filepath.Join(dir, "control")
	if err := os.WriteFile(control, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if dirtyBytes(t, control) == 0 {
		t.Skip("this filesystem does not show written pages as dirty")
	}
	os.Remove(control)

	const size, chunk = 16 << 20, 1 << 20
	tt := newTorrent(t, 90, 256<<10, testFile{name: "x", length: size})
	c := open(t, tt, Options{Dir: filepath.Join(dir, "data")})
	c.writeback.chunk = chunk
	for p := range tt.info.NumPieces() {
		writeInOrder(t, c, p, tt.piece(p), 16<<10)
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) = %v, %v", p, ok, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.writeback.caughtUp(ctx); err != nil {
		t.Fatalf("waiting for the writeback: %v", err)
	}
	// The last chunk's bytes may not be started yet, nor pages a pass
	// found locked by a write in progress.
	if got := dirtyBytes(t, c.files.paths[0]); got > 3*chunk {
		t.Errorf("%d of %d bytes written still dirty after the writeback caught up; want at most %d", got, size, 3*chunk)
	}
	checkRead(t, c, tt, 0, size)
}

// procIO returns this process's write_bytes and cancelled_write_bytes
// from /proc/self/io: bytes it dirtied for the disk, and those of them
// dropped before they were written.
func procIO(t *testing.T) (written, cancelled int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("cannot read this process's I/O counters: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case !ok:
		case name == "write_bytes":
			written = n
		case name == "cancelled_write_bytes":
			cancelled = n
		}
	}
	return written, cancelled
}

// TestSmallCacheStreamsWithoutDiskWrites: pieces streamed through a
// cache much smaller than the torrent, each evicted before the journal
// records it (recordAfter), are dropped from memory by their punch
// without ever being written to the disk: their dirty pages are
// cancelled, not written back first. The pieces still held are written
// and recorded by the next flush of the journal.
func TestSmallCacheStreamsWithoutDiskWrites(t *testing.T) {
	const pl, n, budget = 64 << 10, 64, 1 << 20
	tt := newTorrent(t, 91, pl, testFile{name: "x", length: pl * n})
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	c := open(t, tt, Options{Dir: filepath.Join(dir, "data"), StateFile: state, Budget: budget})
	if !c.holdDirty {
		t.Skip("the cache holds verified pieces in memory only on ext4")
	}
	if !punchCancelsDirtyPages(t, dir) {
		t.Skip("punching a hole here writes its dirty pages back first")
	}
	// No flush of the journal nor save runs unless the test asks.
	stopBackground(c)
	c.writeback.chunk = pl
	busy := kernelWritesBack(t)
	written0, cancelled0 := procIO(t)
	for p := range n {
		download(t, c, tt, p)
	}
	c.drainPunches()
	written, cancelled := procIO(t)
	written, cancelled = written-written0, cancelled-cancelled0
	if written < pl*n {
		t.Skipf("this filesystem accounted %d of the %d bytes written for the disk", written, pl*n)
	}
	if busy || kernelWritesBack(t) {
		t.Skip("the machine has so much dirty memory that the kernel writes back whatever it can")
	}
	if kicks := c.writeback.kicks.Load(); kicks != 0 {
		t.Errorf("a cache that evicts asked for the writeback of its files %d times", kicks)
	}
	var held []int
	for p := range n {
		if c.Have(p) {
			held = append(held, p)
		}
	}
	evicted := int64(n-len(held)) * pl
	if evicted < pl*n/2 {
		t.Fatalf("only %d of %d bytes were evicted", evicted, pl*n)
	}
	if cancelled < evicted {
		t.Errorf("%d bytes of dirty pages dropped by the punches; want at least the %d evicted", cancelled, evicted)
	}

	if err := c.flushAged(time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := Recorded(state); err != nil || len(got) != 0 {
		t.Fatalf("records of pieces held less than an hour, flushing those older: %v, %v", got, err)
	}
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	if got, err := Recorded(state); err != nil || !slices.Equal(got, held) {
		t.Fatalf("recorded %v, %v; want the pieces held, %v", got, err, held)
	}
	if d := dirtyBytes(t, c.files.paths[0]); d != 0 {
		t.Errorf("%d bytes still dirty after the journal recorded every piece held", d)
	}
	for _, p := range held {
		checkRead(t, c, tt, int64(p)*pl, pl)
	}
}

// punchCancelsDirtyPages reports whether punching a hole over dirty
// pages in dir drops them unwritten, as ext4 does on recent kernels
// (others write them back first).
func punchCancelsDirtyPages(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "control"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const n = 1 << 20
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	_, cancelled0 := procIO(t)
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, n); err != nil {
		t.Skipf("cannot punch holes here: %v", err)
	}
	_, cancelled := procIO(t)
	return cancelled-cancelled0 >= n
}

// kernelWritesBack reports whether the machine's dirty memory is past
// half the threshold where the kernel starts writing back in the
// background: past it, pages a test leaves dirty may be written any time.
func kernelWritesBack(t *testing.T) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		t.Skipf("cannot read /proc/vmstat: %v", err)
	}
	var dirty, threshold int64 = 0, -1
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, " ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch name {
		case "nr_dirty", "nr_writeback":
			dirty += n
		case "nr_dirty_background_threshold":
			threshold = n
		}
	}
	return threshold < 0 || dirty > threshold/2
}
