package cache

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// multiFiles has odd sizes so that pieces straddle files, a pad file and a
// zero-length file.
var multiFiles = []testFile{
	{name: "a", length: 70_001},
	{name: "empty", length: 0},
	{name: "pad", length: 11_071, pad: true},
	{name: "b", length: 150_000},
	{name: "c", length: 5},
}

func TestWriteVerifyRead(t *testing.T) {
	tt := newTorrent(t, 1, 32<<10, multiFiles...)
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir})
	n := tt.info.NumPieces()

	if _, err := c.ReadAt(make([]byte, 10), 0); !isNotVerified(err) {
		t.Fatalf("ReadAt before any download: err = %v, want ErrNotVerified", err)
	}
	for p := n - 1; p >= 0; p-- {
		if err := writePiece(c, p, tt.piece(p), 16<<10); err != nil {
			t.Fatal(err)
		}
		// Written but not verified: never readable.
		if _, err := c.ReadAt(make([]byte, 1), tt.info.PieceOffset(p)); !isNotVerified(err) {
			t.Fatalf("ReadAt of unverified piece %d: err = %v, want ErrNotVerified", p, err)
		}
		if c.Have(p) {
			t.Fatalf("Have(%d) before Verify", p)
		}
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) = %v, %v", p, ok, err)
		}
		if !c.Have(p) {
			t.Fatalf("Have(%d) false after Verify", p)
		}
	}
	checkRead(t, c, tt, 0, tt.info.Length)
	checkRead(t, c, tt, 69_999, 11_080) // across a, empty, pad and b
	if got := c.VerifiedBytes(0, tt.info.Length); got != tt.info.Length {
		t.Fatalf("VerifiedBytes = %d, want %d", got, tt.info.Length)
	}

	b := make([]byte, 100)
	nr, err := c.ReadAt(b, tt.info.Length-10)
	if nr != 10 || !errors.Is(err, io.EOF) {
		t.Fatalf("ReadAt at the end = %d, %v; want 10, EOF", nr, err)
	}

	// The backing files are the torrent's files: an ordinary download.
	root := filepath.Join(dir, tt.info.Name)
	for _, f := range tt.info.Files {
		path := filepath.Join(root, f.Path[0])
		got, err := os.ReadFile(path)
		if f.Pad {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pad file %s was created (err %v)", path, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tt.data[f.Offset:f.Offset+f.Length]) {
			t.Errorf("%s does not hold the file's content", path)
		}
	}
}

func TestSingleFileLayout(t *testing.T) {
	tt := newTorrent(t, 2, 16<<10, testFile{name: "x", length: 40_000})
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir})
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
	}
	got, err := os.ReadFile(filepath.Join(dir, tt.info.Name))
	if err != nil || !bytes.Equal(got, tt.data) {
		t.Fatalf("single-file torrent not stored at Dir/Name (err %v)", err)
	}
}

func TestCorruptPieceIsDiscarded(t *testing.T) {
	tt := newTorrent(t, 3, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 1 << 20})
	bad := bytes.Clone(tt.piece(1))
	bad[100] ^= 1
	if err := writePiece(c, 1, bad, 16<<10); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Verify(1); ok || err != nil {
		t.Fatalf("Verify of corrupt piece = %v, %v; want false, nil", ok, err)
	}
	if c.Have(1) {
		t.Fatal("corrupt piece is readable")
	}
	if _, err := c.ReadAt(make([]byte, 10), tt.info.PieceOffset(1)); !isNotVerified(err) {
		t.Fatalf("ReadAt of corrupt piece: err = %v, want ErrNotVerified", err)
	}
	if used := c.Stats().Used; used != 0 {
		t.Fatalf("Used = %d after the only piece failed, want 0", used)
	}
	download(t, c, tt, 1)
	checkRead(t, c, tt, tt.info.PieceOffset(1), tt.info.PieceSize(1))
}

func TestDiscardReleasesReservation(t *testing.T) {
	tt := newTorrent(t, 4, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 1 << 20})
	if err := c.WriteBlock(2, 0, tt.piece(2)[:1000]); err != nil {
		t.Fatal(err)
	}
	if c.Stats().Used == 0 {
		t.Fatal("a piece being written is not charged to the budget")
	}
	c.Discard(2)
	if used := c.Stats().Used; used != 0 {
		t.Fatalf("Used = %d after Discard, want 0", used)
	}
	if _, err := c.Verify(2); err == nil {
		t.Fatal("Verify of a discarded piece succeeded")
	}
}

func TestWriteBlockBounds(t *testing.T) {
	tt := newTorrent(t, 5, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	last := tt.info.NumPieces() - 1
	for _, tc := range []struct {
		p   int
		off int64
		n   int
	}{{-1, 0, 1}, {last + 1, 0, 1}, {0, -1, 1}, {0, 32 << 10, 1}, {last, tt.info.PieceSize(last), 1}} {
		if err := c.WriteBlock(tc.p, tc.off, make([]byte, tc.n)); err == nil {
			t.Errorf("WriteBlock(%d, %d, %d bytes) accepted", tc.p, tc.off, tc.n)
		}
	}
}

func TestVerifiedPieceIgnoresLateBlocks(t *testing.T) {
	tt := newTorrent(t, 6, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	download(t, c, tt, 0)
	// A duplicate (endgame) block with other bytes must not alter verified data.
	if err := c.WriteBlock(0, 0, make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	checkRead(t, c, tt, 0, tt.info.PieceSize(0))
}

func TestClosedCache(t *testing.T) {
	tt := newTorrent(t, 7, 32<<10, multiFiles...)
	c, err := Open(tt.info, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBlock(0, 0, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteBlock after Close: %v, want ErrClosed", err)
	}
	if _, err := c.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt after Close: %v, want ErrClosed", err)
	}
}

func TestVerifiedBytesRanges(t *testing.T) {
	tt := newTorrent(t, 8, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	download(t, c, tt, 1)
	ps := tt.info.PieceSize(1)
	for _, tc := range []struct {
		off, n, want int64
	}{
		{0, tt.info.Length, ps},
		{0, 1 << 62, ps},
		{100, 1<<63 - 1, ps}, // off+n overflows
		{-5, 32<<10 + 10, 5},
		{32<<10 + 100, 50, 50},
		{tt.info.Length, 10, 0},
		{0, 0, 0},
		{0, -1, 0},
	} {
		if got := c.VerifiedBytes(tc.off, tc.n); got != tc.want {
			t.Errorf("VerifiedBytes(%d, %d) = %d, want %d", tc.off, tc.n, got, tc.want)
		}
	}
	if err := c.pin(1, tt.info.NumPieces()-1); !isNotVerified(err) {
		t.Fatalf("pin to the end with later pieces missing: %v, want ErrNotVerified", err)
	}
	if err := c.pin(1, 1); err != nil {
		t.Fatal(err)
	}
	c.unpin(1, 1)
}
