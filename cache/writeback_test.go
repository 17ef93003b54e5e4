package cache

import (
	"context"
	"os"
	"path/filepath"
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
