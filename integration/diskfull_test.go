package integration

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// The disk-full tests serve an 8 MiB file of 256 KiB pieces from one
// libtorrent seeder to a torfs whose cache sits on a tmpfs that cannot
// hold it.
const (
	diskFullSize  = 8 << 20
	diskFullPiece = 256 << 10
)

// diskFullSwarm is the seeded file.
type diskFullSwarm struct {
	bin, torrent, src string
	mi                *metainfo.MetaInfo
	seed              *harness.Libtorrent
}

func newDiskFullSwarm(t *testing.T) *diskFullSwarm {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	s := &diskFullSwarm{bin: harness.BuildTorfs(t), src: t.TempDir()}
	path := filepath.Join(s.src, "big.bin")
	harness.RandomFile(t, path, diskFullSize, 41)
	s.torrent = harness.MakeTorrent(t, path, harness.TorrentOptions{PieceLength: diskFullPiece})
	s.seed = harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: s.torrent, Save: s.src, SeedMode: true, NoBlockLog: true})
	if err := s.seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.mi, err = metainfo.Load(s.torrent); err != nil {
		t.Fatal(err)
	}
	return s
}

// smallTmpfs mounts a tmpfs of size bytes on a fresh directory,
// unmounted when the test ends.
func smallTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	harness.CleanupMount(t, dir)
	if r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir}}); r.Code != 0 {
		t.Fatalf("mount tmpfs: %v", r)
	}
	// Runs before CleanupMount's check, which then finds nothing left.
	t.Cleanup(func() {
		if r := harness.Run(t, harness.Command{Path: "umount", Args: []string{dir}}); r.Code != 0 {
			t.Errorf("umount %s: %v", dir, r)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the disk refuses more.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		_, err := f.Write(buf)
		if errors.Is(err, syscall.ENOSPC) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestMountCacheDiskFull: a mount whose cache disk fills up (another
// program took the space) fails the reads it cannot store with EIO
// within seconds, instead of fetching the same pieces again and again
// until the read timeout; its log and `torfs status` say "cache disk
// full" with the cache's directory.
func TestMountCacheDiskFull(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	s := newDiskFullSwarm(t)
	cacheDir := smallTmpfs(t, 4<<20)
	mnt := t.TempDir()
	// A budget of the whole torrent, which the disk cannot hold; the read
	// timeout is far beyond the bound below, so only the full disk can
	// end the read in time.
	p := mountTorfs(t, s.bin, s.torrent, mnt, "--peer", s.seed.Addr(), "--cache-dir", cacheDir,
		"--cache-size", fmt.Sprint(diskFullSize), "--read-timeout", "10m")
	fillDisk(t, cacheDir)

	f, err := os.Open(filepath.Join(mnt, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	buf := make([]byte, 1<<20)
	go func() {
		n, err := f.ReadAt(buf, 3<<20)
		done <- result{n, err}
	}()
	var res result
	select {
	case res = <-done:
		t.Logf("the read ended: %d bytes, %v", res.n, res.err)
	case <-harness.Context(t, 10*time.Second).Done():
		t.Fatalf("a read through a mount whose cache disk is full did not end in 10 s\n%s", p.Output())
	}
	if res.err == nil {
		want, err := os.ReadFile(filepath.Join(s.src, "big.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:res.n], want[3<<20:3<<20+res.n]) {
			t.Fatal("the read returned wrong bytes")
		}
	} else if !errors.Is(res.err, syscall.EIO) {
		t.Fatalf("read: %v; want bytes or EIO", res.err)
	}

	line, err := p.WaitOutput(harness.Context(t, 10*time.Second), "cache disk full")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, cacheDir) {
		t.Errorf("the log line %q does not name the cache directory %s", line, cacheDir)
	}
	st := mountStatus(t, mnt)
	if len(st.Torrents) != 1 || !strings.Contains(st.Torrents[0].DiskFull, "cache disk full") || !strings.Contains(st.Torrents[0].DiskFull, cacheDir) {
		t.Fatalf("status %+v does not report the full cache disk %s", st.Torrents, cacheDir)
	}
	out := harness.RunTorfs(t, s.bin, "status", mnt).Stdout
	if !strings.Contains(out, "cache disk full: "+cacheDir) {
		t.Fatalf("torfs status does not say the cache disk is full:\n%s", out)
	}
}

// TestGetDiskFull: `torfs get` into a directory with room for half the
// torrent downloads what fits, stops with "cache disk full" and exit
// status 1, and keeps what it verified: once there is room, the same
// command finishes the download without fetching it again.
func TestGetDiskFull(t *testing.T) {
	s := newDiskFullSwarm(t)
	out := smallTmpfs(t, diskFullSize/2)
	args := []string{"get", "-o", out, "--peer", s.seed.Addr(), s.torrent}
	r := harness.RunTorfsStatus(t, s.bin, args...)
	if r.Code != 1 || !strings.Contains(r.Stderr, "cache disk full: "+out) {
		t.Fatalf("want exit 1 and %q on stderr; got %v", "cache disk full: "+out, r)
	}
	kept := verifiedPieces(t, s, filepath.Join(out, "big.bin"))
	if kept == 0 {
		t.Fatalf("no verified piece kept after the disk filled up\n%v", r)
	}
	t.Logf("%d of %d pieces kept on the full disk", kept, s.mi.Info.NumPieces())

	// Room for the rest: the second run resumes.
	if r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"-o", fmt.Sprintf("remount,size=%d", 3*diskFullSize), out}}); r.Code != 0 {
		t.Fatalf("growing the tmpfs: %v", r)
	}
	first := r
	r = harness.RunTorfs(t, s.bin, args...)
	harness.AssertSameFile(t, filepath.Join(s.src, "big.bin"), filepath.Join(out, "big.bin"))
	m := regexp.MustCompile(`received (\d+) bytes`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("no byte count in %q", r.Stdout)
	}
	received, _ := strconv.ParseInt(m[1], 10, 64)
	if rest := int64(s.mi.Info.NumPieces()-kept) * diskFullPiece; received > rest+diskFullPiece {
		t.Fatalf("the second run received %d bytes; the %d pieces kept should have left %d\nfirst run: %v\nsecond run: %v", received, kept, rest, first, r)
	}
}

// verifiedPieces counts the pieces of path that match their hash.
func verifiedPieces(t *testing.T, s *diskFullSwarm, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	buf := make([]byte, diskFullPiece)
	for p := range s.mi.Info.NumPieces() {
		if _, err := io.ReadFull(io.NewSectionReader(f, int64(p)*diskFullPiece, diskFullPiece), buf); err != nil {
			t.Fatal(err)
		}
		if sha1.Sum(buf) == [sha1.Size]byte(s.mi.Info.PieceHash(p)) {
			n++
		}
	}
	return n
}
