package cache

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/metainfo"
)

// testFile describes one file of a test torrent.
type testFile struct {
	name   string
	length int64
	pad    bool
}

// torrent is a test torrent: its info and the content it describes.
type torrent struct {
	info *metainfo.Info
	data []byte
}

// newTorrent builds a torrent over random content (pad files zero). One
// non-pad file makes a single-file torrent.
func newTorrent(t testing.TB, seed uint64, pieceLen int64, files ...testFile) *torrent {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	info := &metainfo.Info{Name: "t", PieceLength: pieceLen, MultiFile: len(files) > 1}
	var data []byte
	for _, f := range files {
		fl := metainfo.File{Path: []string{f.name}, Length: f.length, Offset: int64(len(data)), Pad: f.pad}
		if !info.MultiFile {
			fl.Path = []string{info.Name}
		}
		info.Files = append(info.Files, fl)
		chunk := make([]byte, f.length)
		if !f.pad {
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
		}
		data = append(data, chunk...)
	}
	info.Length = int64(len(data))
	for off := int64(0); off < info.Length; off += pieceLen {
		sum := sha1.Sum(data[off:min(off+pieceLen, info.Length)])
		info.Pieces = append(info.Pieces, sum[:]...)
	}
	return &torrent{info: info, data: data}
}

// piece returns the content of piece p.
func (tt *torrent) piece(p int) []byte {
	off := tt.info.PieceOffset(p)
	return tt.data[off : off+tt.info.PieceSize(p)]
}

// forRunSizes runs test with the cache's write-behind runs at their real
// size and at 8 KiB, so that pieces of a few blocks go through the
// flusher too.
func forRunSizes(t *testing.T, test func(t *testing.T, run int)) {
	for _, run := range []int{writeBehind, 8 << 10} {
		t.Run(fmt.Sprintf("runs%dKiB", run>>10), func(t *testing.T) { test(t, run) })
	}
}

// tinyTmpfs mounts a 1 MiB tmpfs for the test, unmounted when it ends, and
// returns its path; it skips the test without root.
func tinyTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// open opens a cache for tt and closes it when the test ends.
func open(t testing.TB, tt *torrent, opts Options) *Cache {
	t.Helper()
	c, err := Open(tt.info, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// writePiece writes piece p in blocks of bs bytes, last block first to
// exercise out-of-order arrival, with data from content.
func writePiece(c *Cache, p int, content []byte, bs int) error {
	var offs []int
	for off := 0; off < len(content); off += bs {
		offs = append(offs, off)
	}
	for i := len(offs) - 1; i >= 0; i-- {
		off := offs[i]
		if err := c.WriteBlock(p, int64(off), content[off:min(off+bs, len(content))]); err != nil {
			return err
		}
	}
	return nil
}

// download writes and verifies piece p with its correct content.
func download(t testing.TB, c *Cache, tt *torrent, p int) {
	t.Helper()
	if err := writePiece(c, p, tt.piece(p), 16<<10); err != nil {
		t.Fatalf("writing piece %d: %v", p, err)
	}
	ok, err := c.Verify(p)
	if err != nil || !ok {
		t.Fatalf("Verify(%d) = %v, %v; want true", p, ok, err)
	}
}

// checkRead reads [off, off+n) through the cache and compares it with the
// torrent's content.
func checkRead(t testing.TB, c *Cache, tt *torrent, off, n int64) {
	t.Helper()
	b := make([]byte, n)
	got, err := c.ReadAt(b, off)
	if err != nil {
		t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
	}
	if !bytes.Equal(b[:got], tt.data[off:off+int64(got)]) {
		t.Fatalf("ReadAt(%d, %d) returned wrong bytes", off, n)
	}
}

// diskUsage is the piece data the regular files under dir hold: their
// data ranges (SEEK_DATA/SEEK_HOLE) rounded out to 4 KiB blocks. It
// leaves out what st_blocks adds for the file system's own metadata: a
// sparse file of more than four extents takes a 4 KiB extent-tree block
// on ext4, which is not piece data.
func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		n, err := dataBytes(path)
		total += n
		return err
	})
	if err != nil {
		t.Fatalf("measuring disk use: %v", err)
	}
	return total
}

// dataBytes sums the data ranges of the file at path, rounded out to
// 4 KiB blocks as the file system allocates them.
func dataBytes(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fd := int(f.Fd())
	const blk = 4096
	var n, off int64
	for {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return n, nil // no data after off
		}
		if err != nil {
			return n, err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return n, err
		}
		n += (end+blk-1)/blk*blk - start/blk*blk
		off = end
	}
}

func isNotVerified(err error) bool { return errors.Is(err, ErrNotVerified) }

// queuedHoles returns the bytes of holes the punch worker has not
// punched yet.
func (c *Cache) queuedHoles() int64 {
	c.punchQ.mu.Lock()
	defer c.punchQ.mu.Unlock()
	return c.punchQ.bytes
}

// drainPunches waits until every hole queued so far is punched.
func (c *Cache) drainPunches() { c.punchQ.drain() }

// flushJournal writes every pending verified record (see flushAged).
func (c *Cache) flushJournal() error { return c.flushAged(0) }
