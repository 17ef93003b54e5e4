package cache

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/torfs/torfs/internal/bytesize"
)

// hashedPrefix returns how many bytes of piece p the running hash has
// taken in, or -1 when p has no running hash.
func hashedPrefix(c *Cache, p int) int64 {
	c.mu.Lock()
	pt := c.pieces[p].part
	c.mu.Unlock()
	if pt == nil {
		return -1
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return pt.hashed
}

// pending returns how many bytes of piece p wait in memory to be
// written, or -1 when p is not being written.
func pending(c *Cache, p int) int {
	c.mu.Lock()
	pt := c.pieces[p].part
	c.mu.Unlock()
	if pt == nil {
		return -1
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if pt.wb == nil {
		return 0
	}
	return len(*pt.wb)
}

// flushPending writes out what piece p holds in memory.
func flushPending(t testing.TB, c *Cache, p int) {
	t.Helper()
	c.mu.Lock()
	pt := c.pieces[p].part
	c.mu.Unlock()
	if pt == nil {
		return
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if err := c.settle(p, pt); err != nil {
		t.Fatalf("writing out piece %d: %v", p, err)
	}
}

// blocks returns the offsets of content cut in blocks of bs, in order.
func blocks(content []byte, bs int) []int {
	var offs []int
	for off := 0; off < len(content); off += bs {
		offs = append(offs, off)
	}
	return offs
}

// writeOrder writes the blocks of bs bytes at offs of piece p.
func writeOrder(t testing.TB, c *Cache, p int, content []byte, bs int, offs []int) {
	t.Helper()
	for _, off := range offs {
		if err := c.WriteBlock(p, int64(off), content[off:min(off+bs, len(content))]); err != nil {
			t.Fatalf("WriteBlock(%d, %d): %v", p, off, err)
		}
	}
}

// TestRunningHashOrders: whatever order the blocks arrive in, the running
// hash reaches the end of the piece as soon as the piece is contiguous,
// and Verify accepts it.
func TestRunningHashOrders(t *testing.T) { forRunSizes(t, testRunningHashOrders) }

func testRunningHashOrders(t *testing.T, run int) {
	tt := newTorrent(t, 70, 64<<10, multiFiles...)
	const bs = 4 << 10
	orders := map[string]func([]int) []int{
		"in order": func(o []int) []int { return o },
		"reversed": func(o []int) []int { slices.Reverse(o); return o },
		"shuffled": func(o []int) []int {
			rng := rand.New(rand.NewPCG(1, 2))
			rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
			return o
		},
		"interleaved": func(o []int) []int { // two peers, odd blocks ahead
			var even, odd []int
			for i, off := range o {
				if i%2 == 0 {
					even = append(even, off)
				} else {
					odd = append(odd, off)
				}
			}
			return append(odd, even...)
		},
	}
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			c := open(t, tt, Options{Dir: t.TempDir()})
			c.runSize = run
			for p := range tt.info.NumPieces() {
				content := tt.piece(p)
				writeOrder(t, c, p, content, bs, order(blocks(content, bs)))
				if got := hashedPrefix(c, p); got != int64(len(content)) {
					t.Fatalf("piece %d: running hash covers %d of %d bytes written", p, got, len(content))
				}
				if ok, err := c.Verify(p); !ok || err != nil {
					t.Fatalf("Verify(%d) = %v, %v; want true", p, ok, err)
				}
			}
			checkRead(t, c, tt, 0, tt.info.Length)
		})
	}
}

// TestRunningHashRewrites: blocks written again, inside the hashed prefix
// or ahead of it, with other bytes or the same: Verify judges the last
// bytes written.
func TestRunningHashRewrites(t *testing.T) { forRunSizes(t, testRunningHashRewrites) }

func testRunningHashRewrites(t *testing.T, run int) {
	tt := newTorrent(t, 71, 64<<10, testFile{name: "x", length: 6 * 64 << 10})
	c := open(t, tt, Options{Dir: t.TempDir()})
	c.runSize = run
	const bs = 16 << 10
	garbage := bytes.Repeat([]byte{0x5a}, 64<<10) // a whole piece of it
	cases := []struct {
		name  string
		write func(p int, content []byte)
		want  bool
	}{
		{"garbage over the hashed prefix", func(p int, content []byte) {
			writeOrder(t, c, p, content, bs, blocks(content, bs))
			writeOrder(t, c, p, garbage, bs, []int{0})
		}, false},
		{"hashed prefix corrected", func(p int, content []byte) {
			bad := bytes.Clone(content)
			bad[bs+7] ^= 1
			writeOrder(t, c, p, bad, bs, blocks(bad, bs))
			writeOrder(t, c, p, content, bs, []int{bs})
		}, true},
		{"same bytes again", func(p int, content []byte) {
			writeOrder(t, c, p, content, bs, blocks(content, bs))
			writeOrder(t, c, p, content, bs, []int{2 * bs, 0})
		}, true},
		{"garbage ahead, corrected before the prefix reaches it", func(p int, content []byte) {
			writeOrder(t, c, p, garbage, bs, []int{3 * bs})
			writeOrder(t, c, p, content, bs, []int{3 * bs, 0, bs, 2 * bs})
		}, true},
		{"garbage ahead, corrected after the prefix reached it", func(p int, content []byte) {
			writeOrder(t, c, p, garbage, bs, []int{2 * bs})
			writeOrder(t, c, p, content, bs, []int{0, bs, 3 * bs, 2 * bs})
		}, true},
		{"good block ahead, garbage over it later", func(p int, content []byte) {
			writeOrder(t, c, p, content, bs, []int{3 * bs, 2 * bs})
			writeOrder(t, c, p, garbage, bs, []int{2 * bs})
			writeOrder(t, c, p, content, bs, []int{0, bs})
		}, false},
	}
	for p, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.write(p, tt.piece(p))
			ok, err := c.Verify(p)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify = %v, %v; want %v", ok, err, tc.want)
			}
			if ok {
				checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
			} else if c.Have(p) {
				t.Fatal("a piece that failed is readable")
			}
		})
	}
}

// TestRunningHashDiscard: a piece discarded half way, with garbage in its
// hashed prefix, starts over clean: nothing of the abandoned hash leaks
// into the next attempt, of this piece or another.
func TestRunningHashDiscard(t *testing.T) {
	tt := newTorrent(t, 72, 32<<10, testFile{name: "x", length: 16 * 32 << 10})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 4 * 32 << 10})
	const bs = 8 << 10
	for p := range tt.info.NumPieces() {
		content := tt.piece(p)
		bad := bytes.Clone(content)
		bad[3] ^= 0xff
		writeOrder(t, c, p, bad, bs, blocks(bad, bs)[:2])
		c.Discard(p)
		if got := hashedPrefix(c, p); got != -1 {
			t.Fatalf("piece %d keeps a running hash of %d bytes after Discard", p, got)
		}
		if st := c.Stats(); st.Used > int64(p)*c.footprint[p] {
			t.Fatalf("piece %d still charged after Discard: Used = %d", p, st.Used)
		}
		// The next attempt arrives in another order: the tail first.
		offs := blocks(content, bs)
		slices.Reverse(offs)
		writeOrder(t, c, p, content, bs, offs)
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) after a discarded attempt = %v, %v; want true", p, ok, err)
		}
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
}

// TestRunningHashFailedPiece: a piece with a corrupt block fails wherever
// the block sits (hashed while written or read back by Verify); the
// piece is dropped, unreadable, and its next, correct download passes.
func TestRunningHashFailedPiece(t *testing.T) {
	tt := newTorrent(t, 73, 64<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	const bs = 16 << 10
	for p := range tt.info.NumPieces() {
		content := tt.piece(p)
		bad := bytes.Clone(content)
		bad[len(bad)-1] ^= 0x80
		offs := blocks(bad, bs)
		if p%2 == 1 {
			slices.Reverse(offs) // the corrupt block is read back by Verify
		}
		writeOrder(t, c, p, bad, bs, offs)
		if ok, err := c.Verify(p); ok || err != nil {
			t.Fatalf("Verify(%d) of a corrupt piece = %v, %v; want false", p, ok, err)
		}
		if c.Have(p) {
			t.Fatalf("piece %d readable after failing", p)
		}
		if _, err := c.ReadAt(make([]byte, 1), tt.info.PieceOffset(p)); !isNotVerified(err) {
			t.Fatalf("ReadAt of failed piece %d: %v, want ErrNotVerified", p, err)
		}
		writeOrder(t, c, p, content, bs, blocks(content, bs))
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) of the correct download = %v, %v; want true", p, ok, err)
		}
	}
	checkRead(t, c, tt, 0, tt.info.Length)
}

// TestRunningHashMatchesDisk is a property test: random writes of random
// sizes, some with wrong bytes, some overlapping, over pieces that
// straddle files and a pad file. Verify must accept a piece exactly when
// the bytes the cache holds for it (a model of the disk, pad as zeros)
// match its hash.
func TestRunningHashMatchesDisk(t *testing.T) {
	tt := newTorrent(t, 74, 32<<10, multiFiles...)
	c := open(t, tt, Options{Dir: t.TempDir()})
	rng := rand.New(rand.NewPCG(74, 75))
	model := make([]byte, tt.info.Length) // fresh preallocated files read as zeros
	padOff, padLen := tt.info.Files[2].Offset, tt.info.Files[2].Length
	var accepted, rejected int
	for round := range 12 {
		for p := range tt.info.NumPieces() {
			if c.Have(p) {
				continue // verified: later blocks would be ignored
			}
			base := tt.info.PieceOffset(p)
			size := int(tt.info.PieceSize(p))
			good := tt.piece(p)
			write := func(off, n int, src []byte) {
				if err := c.WriteBlock(p, int64(off), src[off:off+n]); err != nil {
					t.Fatalf("WriteBlock: %v", err)
				}
				copy(model[base+int64(off):], src[off:off+n])
			}
			bad := bytes.Clone(good)
			bad[rng.IntN(size)] ^= 1
			for range rng.IntN(12) {
				off := rng.IntN(size)
				n := 1 + rng.IntN(min(size-off, 12<<10))
				src := good
				if rng.IntN(6) == 0 {
					src = bad
				}
				write(off, n, src)
			}
			if (round+p)%3 != 0 {
				// Fill in the whole piece correctly, in random runs, as
				// a download that finishes would.
				cut := []int{0, size}
				for range rng.IntN(6) {
					cut = append(cut, rng.IntN(size))
				}
				slices.Sort(cut)
				cut = slices.Compact(cut)
				runs := make([][2]int, 0, len(cut))
				for i := 1; i < len(cut); i++ {
					runs = append(runs, [2]int{cut[i-1], cut[i]})
				}
				rng.Shuffle(len(runs), func(i, j int) { runs[i], runs[j] = runs[j], runs[i] })
				for _, r := range runs {
					write(r[0], r[1]-r[0], good)
				}
			}
			if hashedPrefix(c, p) < 0 {
				continue // nothing written this round
			}
			disk := bytes.Clone(model[base : base+int64(size)])
			for i := range disk {
				if o := base + int64(i); o >= padOff && o < padOff+padLen {
					disk[i] = 0
				}
			}
			want := sha1.Sum(disk) == [20]byte(tt.info.PieceHash(p))
			ok, err := c.Verify(p)
			if err != nil || ok != want {
				t.Fatalf("round %d piece %d: Verify = %v, %v; the bytes held say %v", round, p, ok, err, want)
			}
			if ok {
				accepted++
				continue
			}
			rejected++
			// A failed piece is dropped: with a budget of 0 its blocks
			// stay allocated, and still hold what was written.
		}
	}
	if accepted == 0 || rejected == 0 {
		t.Fatalf("%d pieces accepted, %d rejected; the test needs both", accepted, rejected)
	}
}

// TestWriteBehindBounded: more pieces in flight than there are
// write-behind buffers; those without one write straight through, all
// verify, and every buffer comes back whether its piece passed, failed
// or was discarded.
func TestWriteBehindBounded(t *testing.T) {
	const n = maxWriteBehind + 16
	tt := newTorrent(t, 76, 64<<10, testFile{name: "x", length: n * 64 << 10})
	c := open(t, tt, Options{Dir: t.TempDir()})
	const bs = 16 << 10
	// Every piece gets its first block before any gets its second, so
	// all are in flight at once.
	for off := 0; off < 64<<10; off += bs {
		for p := range n {
			content := tt.piece(p)
			if p%5 == 4 && off == 2*bs {
				content = bytes.Repeat([]byte{1}, len(content)) // fails
			}
			writeOrder(t, c, p, content, bs, []int{off})
		}
		if off == 0 {
			if held := c.writeBufsHeld.Load(); held != maxWriteBehind {
				t.Fatalf("%d write-behind buffers held with %d pieces in flight, want %d", held, n, maxWriteBehind)
			}
		}
		if off == bs {
			c.Discard(n - 1)
		}
	}
	for p := range n - 1 {
		ok, err := c.Verify(p)
		if want := p%5 != 4; err != nil || ok != want {
			t.Fatalf("Verify(%d) = %v, %v; want %v", p, ok, err, want)
		}
		if ok {
			checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
		}
	}
	if held := c.writeBufsHeld.Load(); held != 0 {
		t.Fatalf("%d write-behind buffers still held after every piece was verified or discarded", held)
	}
}

// TestWriteBehindDiskFull: blocks gathered in memory that the disk
// refuses when they are written out (by the flusher, or by Verify if it
// comes first) drop their piece with an error from Verify that still says
// ENOSPC, release its charge, and leave the verified pieces readable.
func TestWriteBehindDiskFull(t *testing.T) {
	dir := tinyTmpfs(t)
	tt := newTorrent(t, 77, 64<<10, testFile{name: "x", length: 2 << 20})
	c := open(t, tt, Options{Dir: filepath.Join(dir, "sparse"), Budget: 3 << 19}) // 1.5 MiB: more than the disk
	const bs = 16 << 10
	failed := -1
	for p := range tt.info.NumPieces() {
		content := tt.piece(p)
		// In order: gathered in one buffer, queued whole when the last
		// block arrives.
		writeOrder(t, c, p, content, bs, blocks(content, bs))
		ok, err := c.Verify(p)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) || ok {
				t.Fatalf("Verify(%d) = %v, %v; want false and ENOSPC", p, ok, err)
			}
			failed = p
			break
		}
		if !ok {
			t.Fatalf("Verify(%d) = false", p)
		}
	}
	checkDiskFull(t, c, tt, failed)
}

// checkDiskFull checks what a full disk left of a cache written piece
// by piece in order: failed, the first piece that met the full disk, is
// dropped and no longer charged; the pieces before it stay verified,
// charged and readable.
func checkDiskFull(t *testing.T, c *Cache, tt *torrent, failed int) {
	t.Helper()
	if failed < 0 {
		t.Fatalf("a %s torrent fit on a 1 MiB tmpfs", bytesize.Format(tt.info.Length))
	}
	if c.Have(failed) || pending(c, failed) != -1 {
		t.Fatalf("piece %d still held after its write failed", failed)
	}
	if st := c.Stats(); st.Verified != failed || st.Used != int64(failed)*c.footprint[0] {
		t.Fatalf("Verified = %d, Used = %d; want %d pieces charged", st.Verified, st.Used, failed)
	}
	for p := range failed {
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
}

// TestFlusherDiskFull: runs the flusher fails to write, because the disk
// is full, drop their piece with an error that still says ENOSPC, from a
// later WriteBlock of the piece or from its Verify; the charge is
// released, no buffer stays held, and the verified pieces stay readable.
func TestFlusherDiskFull(t *testing.T) {
	dir := tinyTmpfs(t)
	tt := newTorrent(t, 78, 256<<10, testFile{name: "x", length: 3 << 20})
	c := open(t, tt, Options{Dir: filepath.Join(dir, "sparse"), Budget: 2 << 20}) // more than the disk
	c.runSize = 16 << 10
	const bs = 16 << 10
	failed := -1
	for p := range tt.info.NumPieces() {
		content := tt.piece(p)
		var err error
		for off := 0; off < len(content) && err == nil; off += bs {
			err = c.WriteBlock(p, int64(off), content[off:off+bs])
		}
		if err == nil {
			var ok bool
			ok, err = c.Verify(p)
			if err == nil && !ok {
				t.Fatalf("Verify(%d) = false", p)
			}
		}
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("piece %d: %v; want ENOSPC", p, err)
			}
			failed = p
			break
		}
	}
	checkDiskFull(t, c, tt, failed)
	if held := c.writeBufsHeld.Load(); held != 0 {
		t.Fatalf("%d write-behind buffers still held", held)
	}
}

// TestFlusherWriteError: a run the flusher cannot write (its backing file
// was removed behind the cache's back) fails its piece, even though the
// piece's last run, which Verify writes into another file, lands and the
// running hash matches: Verify never vouches for bytes that are not on
// disk.
func TestFlusherWriteError(t *testing.T) {
	tt := newTorrent(t, 79, 256<<10, testFile{name: "a", length: 240 << 10}, testFile{name: "b", length: 16 << 10})
	c := open(t, tt, Options{Dir: t.TempDir()})
	c.runSize = 16 << 10
	if err := os.Remove(c.files.paths[0]); err != nil {
		t.Fatal(err)
	}
	content := tt.piece(0)
	const bs = 16 << 10
	var err error
	for off := 0; off < len(content) && err == nil; off += bs {
		err = c.WriteBlock(0, int64(off), content[off:off+bs])
	}
	if err == nil {
		var ok bool
		ok, err = c.Verify(0)
		if err == nil {
			t.Fatalf("Verify = %v, nil with most of the piece never written; want an error", ok)
		}
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v does not say the file is missing", err)
	}
	if c.Have(0) || pending(c, 0) != -1 {
		t.Fatal("piece still held after its write failed")
	}
	if st := c.Stats(); st.Used != 0 {
		t.Fatalf("Used = %d after the only piece was dropped", st.Used)
	}
	if held := c.writeBufsHeld.Load(); held != 0 {
		t.Fatalf("%d write-behind buffers still held", held)
	}
}
