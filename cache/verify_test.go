package cache

import (
	"bytes"
	"crypto/sha1"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// writeInOrder writes content to piece p front to back in blocks of bs.
func writeInOrder(t testing.TB, c *Cache, p int, content []byte, bs int) {
	t.Helper()
	for off := 0; off < len(content); off += bs {
		if err := c.WriteBlock(p, int64(off), content[off:min(off+bs, len(content))]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyChecksWhatIsOnDisk: Verify judges the bytes on disk, not the
// history of writes.
func TestVerifyChecksWhatIsOnDisk(t *testing.T) {
	tt := newTorrent(t, 60, 64<<10, testFile{name: "x", length: 8 * 64 << 10})
	c := open(t, tt, Options{Dir: t.TempDir()})

	// Correct bytes, then a block overwritten with garbage.
	writeInOrder(t, c, 0, tt.piece(0), 16<<10)
	if err := c.WriteBlock(0, 16<<10, make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Verify(0); ok || err != nil {
		t.Fatalf("Verify after garbage overwrote good bytes = %v, %v; want false", ok, err)
	}

	// Garbage, then corrected: what is on disk is right.
	bad := bytes.Clone(tt.piece(1))
	bad[5] ^= 1
	writeInOrder(t, c, 1, bad, 16<<10)
	if err := c.WriteBlock(1, 0, tt.piece(1)[:16<<10]); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Verify(1); !ok || err != nil {
		t.Fatalf("Verify after the garbage was corrected = %v, %v; want true", ok, err)
	}
	checkRead(t, c, tt, tt.info.PieceOffset(1), tt.info.PieceSize(1))

	// Plain in-order download.
	writeInOrder(t, c, 2, tt.piece(2), 16<<10)
	if ok, err := c.Verify(2); !ok || err != nil {
		t.Fatalf("Verify of an in-order piece = %v, %v", ok, err)
	}
	checkRead(t, c, tt, tt.info.PieceOffset(2), tt.info.PieceSize(2))
}

// TestPadBytesHashAsZeros: a peer's bytes for a pad file are not stored;
// the pad hashes and reads as zeros.
func TestPadBytesHashAsZeros(t *testing.T) {
	tt := newTorrent(t, 61, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	p := int(tt.info.Files[2].Offset / tt.info.PieceLength) // holds the pad file
	content := bytes.Clone(tt.piece(p))
	padStart := tt.info.Files[2].Offset - tt.info.PieceOffset(p)
	for i := padStart; i < min(padStart+tt.info.Files[2].Length, int64(len(content))); i++ {
		content[i] = 0xAA
	}
	writeInOrder(t, c, p, content, 4096)
	if ok, err := c.Verify(p); !ok || err != nil {
		t.Fatalf("Verify = %v, %v; pad bytes must hash as zeros", ok, err)
	}
	checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
}

// TestConcurrentConflictingWrites: writers race on the same blocks
// with right and wrong bytes, in and out of order; Verify must accept the
// piece exactly when the bytes on disk match its hash.
func TestConcurrentConflictingWrites(t *testing.T) { forRunSizes(t, testConcurrentConflictingWrites) }

func testConcurrentConflictingWrites(t *testing.T, run int) {
	tt := newTorrent(t, 62, 32<<10, testFile{name: "x", length: 96 * 32 << 10})
	c := open(t, tt, Options{Dir: t.TempDir()})
	c.runSize = run
	var accepted, rejected int
	for p := range tt.info.NumPieces() {
		good := tt.piece(p)
		bad := bytes.Clone(good)
		bad[len(bad)/3] ^= 0x40
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Go(func() {
				src := good
				if (p+w)%4 == 0 {
					src = bad
				}
				rng := rand.New(rand.NewPCG(uint64(p), uint64(w)))
				for off := 0; off < len(src); off += 8 << 10 {
					if rng.IntN(8) != 0 {
						c.WriteBlock(p, int64(off), src[off:off+8<<10])
					}
				}
			})
		}
		wg.Wait()
		flushPending(t, c, p) // what the cache holds is now all on disk
		disk := make([]byte, len(good))
		f, err := os.Open(c.files.paths[0])
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(disk, tt.info.PieceOffset(p))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := sha1.Sum(disk) == [20]byte(tt.info.PieceHash(p))
		ok, err := c.Verify(p)
		if err != nil || ok != want {
			t.Fatalf("piece %d: Verify = %v, %v; the bytes on disk say %v", p, ok, err, want)
		}
		if ok {
			accepted++
		} else {
			rejected++
		}
	}
	if accepted == 0 || rejected == 0 {
		t.Fatalf("%d pieces accepted, %d rejected; the test needs both", accepted, rejected)
	}
}
