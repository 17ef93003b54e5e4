package integration

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/cache"
	torfsfs "github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
)

// mountTorfs starts `torfs mount` with args, then the torrent and a fresh
// mountpoint, and waits until it says the mount is live. The mount is
// removed when the test ends whatever happens.
func mountTorfs(t *testing.T, bin, torrent, mnt string, args ...string) *harness.Process {
	t.Helper()
	harness.CleanupMount(t, mnt)
	p := harness.StartTorfs(t, bin, append(append([]string{"mount"}, args...), torrent, mnt)...)
	if _, err := p.WaitOutput(harness.Context(t, time.Minute), "mounted "); err != nil {
		t.Fatal(err)
	}
	return p
}

// mountStatus asks the mount for its status page.
func mountStatus(t *testing.T, mnt string) mount.Status {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(mnt, torfsfs.XattrStatus, buf)
	if err != nil {
		t.Fatalf("status address of %s: %v", mnt, err)
	}
	resp, err := http.Get(string(buf[:n]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st mount.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func getxattr(t *testing.T, path, attr string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getxattr(path, attr, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, attr, err)
	}
	return string(buf[:n])
}

// waitReady waits until the mount at mnt, run by p, shows its torrent's
// tree (the placeholder gone), failing the test with never and the
// placeholder's text if ctx ends first, or with the mount's output if
// it exits while doing what it does.
func waitReady(ctx context.Context, t *testing.T, p *harness.Process, mnt, never, doing string) {
	t.Helper()
	for getxattr(t, mnt, torfsfs.XattrState) != torfsfs.StateReady {
		select {
		case <-ctx.Done():
			text, _ := os.ReadFile(filepath.Join(mnt, torfsfs.ResolvingName))
			t.Fatalf("%s; placeholder: %q", never, text)
		case <-p.Done():
			t.Fatalf("torfs mount exited while %s:\n%s", doing, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// seedWith writes spec under src/name, makes its torrent and has
// libtorrent seed it.
func seedWith(t *testing.T, src, name string, spec []harness.FileSpec, pieceLength int64) (torrent string, seed *harness.Libtorrent) {
	t.Helper()
	root := filepath.Join(src, name)
	harness.RandomTree(t, root, spec, 7)
	torrent = harness.MakeTorrent(t, root, harness.TorrentOptions{PieceLength: pieceLength})
	seed = harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	return torrent, seed
}

func TestMountMultiFileFromLibtorrent(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	spec := append(harness.MixedTree(pl), harness.FileSpec{Path: "video/film.mkv", Size: 6<<20 + 12345})
	src := t.TempDir()
	torrent, seed := seedWith(t, src, "tree", spec, pl)
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	p := mountTorfs(t, bin, torrent, mnt, "--peer", seed.Addr(), "--listen", listen, "--cache-dir", t.TempDir())

	// ls -R shows the torrent's tree exactly.
	lsTree := func(dir string) string {
		out, err := exec.Command("ls", "-R", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("ls -R %s: %v: %s", dir, err, out)
		}
		return strings.ReplaceAll(string(out), dir, "ROOT")
	}
	if got, want := lsTree(mnt), lsTree(filepath.Join(src, "tree")); got != want {
		t.Errorf("ls -R of the mount:\n%s\nwant:\n%s", got, want)
	}

	// Every file's bytes, read by cmp.
	for _, f := range spec {
		out, err := exec.Command("cmp", filepath.Join(src, "tree", f.Path), filepath.Join(mnt, f.Path)).CombinedOutput()
		if err != nil {
			t.Errorf("cmp %s: %v: %s", f.Path, err, out)
		}
	}

	// 200 random preads of the big file.
	want, err := os.ReadFile(filepath.Join(src, "tree", "video", "film.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(mnt, "video", "film.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		off := rng.Int64N(int64(len(want)))
		buf := make([]byte, 1+rng.IntN(256<<10))
		n, err := f.ReadAt(buf, off)
		end := min(off+int64(len(buf)), int64(len(want)))
		if int64(n) != end-off || !bytes.Equal(buf[:n], want[off:end]) {
			t.Fatalf("pread(%d, %d) = %d, %v, or wrong bytes", off, len(buf), n, err)
		}
	}
	f.Close()

	// Read-only, and the extended attributes.
	if _, err := os.OpenFile(filepath.Join(mnt, "a.bin"), os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("opening for writing: %v, want EROFS", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "new.txt"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Errorf("creating a file: %v, want EROFS", err)
	}
	if got := getxattr(t, mnt, torfsfs.XattrInfoHash); got != mi.InfoHash.String() {
		t.Errorf("%s = %q, want %s", torfsfs.XattrInfoHash, got, mi.InfoHash)
	}
	total := harness.TreeSize(spec)
	if got, want := getxattr(t, mnt, torfsfs.XattrProgress), fmt.Sprintf("%d/%d", total, total); got != want {
		t.Errorf("progress of the root after reading everything = %q, want %q", got, want)
	}
	st := harness.RunTorfs(t, bin, "status", mnt)
	if !strings.Contains(st.Stdout, "video/film.mkv") || !strings.Contains(st.Stdout, "100%") {
		t.Errorf("torfs status:\n%s", st.Stdout)
	}
	// df: the cache's budget as the size, what it has left as free.
	var fsst unix.Statfs_t
	if err := unix.Statfs(mnt, &fsst); err != nil {
		t.Fatal(err)
	}
	ts := mountStatus(t, mnt).Torrents[0]
	capacity := ts.Length
	if ts.CacheBudget > 0 {
		capacity = ts.CacheBudget
	}
	capacity = max(capacity, ts.CacheUsed)
	if size, free := int64(fsst.Blocks)*fsst.Bsize, int64(fsst.Bavail)*fsst.Bsize; size < capacity || size >= capacity+fsst.Bsize || free > capacity-ts.CacheUsed || free <= capacity-ts.CacheUsed-fsst.Bsize {
		t.Errorf("df: size %d, free %d; want the cache's %d and %d free (status %+v)", size, free, capacity, capacity-ts.CacheUsed, ts)
	}
	for _, inside := range []string{filepath.Join(mnt, "video"), filepath.Join(mnt, "video", "film.mkv")} {
		if sub := harness.RunTorfs(t, bin, "status", inside); !strings.Contains(sub.Stdout, "video/film.mkv") {
			t.Errorf("torfs status %s (inside the mount):\n%s", inside, sub.Stdout)
		}
	}

	// Seeding while mounted: a libtorrent leecher that only knows torfs
	// gets the whole torrent from it.
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent, Peers: []string{listen}})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	// libtorrent reports blocks in alerts that may trail its "finished"
	// state, so wait (bounded) for its per-peer counts to settle.
	var fromTorfs int64
	received := func(st harness.LibtorrentStatus) bool {
		fromTorfs = 0
		for _, peer := range st.PeersSeen {
			fromTorfs += peer.BytesReceived
		}
		return fromTorfs >= total
	}
	if err := leech.WaitStatus(harness.Context(t, 15*time.Second), received); err != nil {
		received(leech.Status())
	}
	if fromTorfs < total {
		t.Errorf("the leecher got %d bytes from torfs, want the whole %d", fromTorfs, total)
	}

	// SIGTERM while a file is open: the mount goes away at once (lazily),
	// the process exits once the file is closed.
	open, err := os.Open(filepath.Join(mnt, "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx := harness.Context(t, 30*time.Second)
	if _, err := p.WaitOutput(ctx, "detached the mount lazily"); err != nil {
		t.Fatal(err)
	}
	if ok, err := harness.Mounted(mnt); err != nil || ok {
		t.Fatalf("%s still mounted after SIGTERM detached it (%v)", mnt, err)
	}
	open.Close()
	if code, err := p.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("torfs mount after SIGTERM: exit %d, %v\n%s", code, err, p.Output())
	}
}

// blockedInRead waits until process pid sits in a system call on its
// first opened file (fd 3): cat reading the mounted file.
func blockedInRead(ctx context.Context, pid int) error {
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
		// "NR ARG0 ...": read(2) or copy_file_range(2) from fd 3.
		if f := strings.Fields(string(b)); len(f) > 1 && f[1] == "0x3" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process %d never blocked reading: %w (%s)", pid, ctx.Err(), b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestMountInterruptAndReadTimeout(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "lonely.bin"), 4<<20, 9)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "lonely.bin"), harness.TorrentOptions{})

	// No peer has it: a cat waiting forever is ended by Ctrl-C at once.
	waitMnt := t.TempDir()
	mountTorfs(t, bin, torrent, waitMnt, "--read-timeout", "0", "--cache-dir", t.TempDir())
	cat := exec.Command("cat", filepath.Join(waitMnt, "lonely.bin"))
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var catErr error
	go func() { catErr = cat.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cat.Process.Kill(); <-exited })
	ctx := harness.Context(t, 30*time.Second)
	if err := blockedInRead(ctx, cat.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := cat.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		t.Fatal("cat blocked on a missing piece did not exit after SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(catErr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Errorf("cat ended with %v, want death by SIGINT", catErr)
	}

	// With --read-timeout 2s the read fails with EIO, and the log says why.
	eioMnt := t.TempDir()
	p := mountTorfs(t, bin, torrent, eioMnt, "--read-timeout", "2s", "--cache-dir", t.TempDir())
	out, err := exec.CommandContext(ctx, "cat", filepath.Join(eioMnt, "lonely.bin")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Input/output error") {
		t.Errorf("cat with no peers and a 2s read timeout: %v: %s; want an I/O error", err, out)
	}
	if _, err := p.WaitOutput(ctx, "no peers"); err != nil {
		t.Errorf("the log does not say the read stalled for lack of peers: %v", err)
	}
}

func TestMountKilledThenMountedAgain(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	spec := []harness.FileSpec{{Path: "data.bin", Size: 8<<20 + 99}}
	torrent, seed := seedWith(t, src, "set", spec, 64<<10)
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	mnt, cacheDir := t.TempDir(), t.TempDir()
	args := []string{"--peer", seed.Addr(), "--cache-dir", cacheDir}

	p := mountTorfs(t, bin, torrent, mnt, args...)
	harness.AssertSameTree(t, spec, filepath.Join(src, "set"), mnt)
	// The mount journals what it verified within a second; kill it once
	// the record holds every piece.
	state := filepath.Join(cacheDir, mi.InfoHash.String(), "state")
	if err := waitRecorded(harness.Context(t, 30*time.Second), state, mi.Info.NumPieces()); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(harness.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	// The dead mount is still in the table; the next mount clears it and
	// serves the pieces the first one verified without fetching them.
	p = mountTorfs(t, bin, torrent, mnt, args...)
	harness.AssertSameTree(t, spec, filepath.Join(src, "set"), mnt)
	if got := mountStatus(t, mnt).Torrents[0].Downloaded; got != 0 {
		t.Errorf("the mount after the restart downloaded %d bytes; verified pieces were downloaded again", got)
	}
	if !strings.Contains(p.Output(), "clearing a stale torfs mount") {
		t.Errorf("torfs did not say it cleared the stale mount:\n%s", p.Output())
	}
}

// waitRecorded waits until the cache's resume state at path, with its
// journal (see cache/journal.go), records pieces 0 to n-1 as verified.
func waitRecorded(ctx context.Context, path string, n int) error {
	for {
		got, err := cache.Recorded(path)
		have := 0
		for _, p := range got {
			if p < n {
				have++
			}
		}
		if err == nil && have == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the resume state %s records %d of the first %d pieces (%v): %w", path, have, n, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestMountStreamsWithBoundedCache(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	const size, budget = 512 << 20, 64 << 20
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "movie.mkv"), size, 11)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "movie.mkv"), harness.TorrentOptions{PieceLength: 1 << 20})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, SeedMode: true, NoBlockLog: true})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	mnt, cacheDir := t.TempDir(), t.TempDir()
	mountTorfs(t, bin, torrent, mnt, "--peer", seed.Addr(), "--cache-dir", cacheDir, "--cache-size", "64MiB")
	dataDir := filepath.Join(cacheDir, mi.InfoHash.String(), "data")
	local, err := os.Open(filepath.Join(src, "movie.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	movie, err := os.Open(filepath.Join(mnt, "movie.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	defer movie.Close()

	// A jump to the middle gets its bytes without the swarm fetching
	// everything before them.
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	if _, err := movie.ReadAt(got, size/2); err != nil {
		t.Fatal(err)
	}
	if _, err := local.ReadAt(want, size/2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("wrong bytes in the middle of the file")
	}
	if v := mountStatus(t, mnt).Torrents[0].Verified; v > 48<<20 {
		t.Errorf("%d MiB verified after one 1 MiB read in the middle; the swarm fetched far more than the read and its readahead", v>>20)
	}

	// Reading end to end works within a 64 MiB cache.
	var maxUse atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxUse.Store(max(maxUse.Load(), diskUse(dataDir)))
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	hm, hl := sha1.New(), sha1.New()
	n, err := io.CopyBuffer(hm, struct{ io.Reader }{movie}, make([]byte, 1<<20))
	close(stop)
	<-sampled
	if err != nil || n != size {
		t.Fatalf("reading the whole file through the mount: %d bytes, %v", n, err)
	}
	if _, err := io.Copy(hl, local); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hm.Sum(nil), hl.Sum(nil)) {
		t.Error("the file read through the mount differs from the source")
	}
	if use := max(maxUse.Load(), diskUse(dataDir)); use > budget {
		t.Errorf("the cache used %d bytes of disk, over its %d-byte budget", use, budget)
	}
	if ev := mountStatus(t, mnt).Torrents[0].Evictions; ev == 0 {
		t.Error("no piece was evicted while reading 512 MiB through a 64 MiB cache")
	}
}

// diskUse is the piece data the regular files under dir hold on disk:
// their allocated data ranges (SEEK_DATA/SEEK_HOLE). It leaves out what
// st_blocks adds for the file system's own metadata: a sparse file with
// more than four extents takes a 4 KiB extent-tree block on ext4, which
// is not piece data.
func diskUse(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n += dataBytes(p)
		}
		return nil
	})
	return n
}

// dataBytes is the piece data file p holds on disk: the sum of its data
// ranges (SEEK_DATA/SEEK_HOLE), rounded out to 4 KiB blocks as the file
// system allocates them, or the blocks it has allocated (st_blocks,
// the larger of a reading before and one after the walk) if fewer. The walk over the ranges is not atomic: in a file that a mount
// is filling, it can count a piece before its hole is punched and the
// piece written in its place after that, more than the file ever held at
// once; st_blocks, one reading, cannot, but it also counts the file
// system's extent blocks, which the walk does not. A file over its
// budget is over it by both.
func dataBytes(p string) int64 {
	f, err := os.Open(p)
	if err != nil {
		return 0
	}
	defer f.Close()
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0
	}
	blocks := st.Blocks
	var n, off int64
	for {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil { // ENXIO: no data after off
			break
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			break
		}
		const blk = 4096
		n += (end+blk-1)/blk*blk - start/blk*blk
		off = end
	}
	if err := unix.Fstat(fd, &st); err == nil {
		blocks = max(blocks, st.Blocks)
	}
	return min(n, blocks*512)
}

func TestMountDirectoryOfTorrents(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src, torrents := t.TempDir(), t.TempDir()
	spec := []harness.FileSpec{{Path: "one.bin", Size: 300_001}}
	seeded, seed := seedWith(t, src, "first", spec, 32<<10)
	copyFile := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(seeded, filepath.Join(torrents, "first.torrent"))
	harness.RandomFile(t, filepath.Join(src, "second.iso"), 100_000, 5)
	copyFile(harness.MakeTorrent(t, filepath.Join(src, "second.iso"), harness.TorrentOptions{}), filepath.Join(torrents, "later.torrent"+".part"))

	mnt := t.TempDir()
	mountTorfs(t, bin, torrents, mnt, "--peer", seed.Addr(), "--cache-dir", t.TempDir())
	names := func() string {
		entries, err := os.ReadDir(mnt)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range entries {
			ns = append(ns, e.Name())
		}
		return strings.Join(ns, " ")
	}
	if got := names(); got != "first" {
		t.Fatalf("mount shows %q, want just first", got)
	}
	harness.AssertSameTree(t, spec, filepath.Join(src, "first"), filepath.Join(mnt, "first"))
	// Without --cache-size, the torrents share one automatic budget.
	if st := mountStatus(t, mnt); !st.CacheShared || st.CacheBudget <= 0 || st.CacheUsed > st.CacheBudget {
		t.Errorf("status: cache shared %v, %d of %d bytes; want one positive budget shared by the directory's torrents",
			st.CacheShared, st.CacheUsed, st.CacheBudget)
	}

	// A .torrent file appearing in the directory shows up; one going away
	// disappears.
	if err := os.Rename(filepath.Join(torrents, "later.torrent.part"), filepath.Join(torrents, "later.torrent")); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want string) {
		t.Helper()
		ctx := harness.Context(t, 30*time.Second)
		for names() != want {
			if ctx.Err() != nil {
				t.Fatalf("mount shows %q, want %q", names(), want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("first later")
	if fi, err := os.Stat(filepath.Join(mnt, "later", "second.iso")); err != nil || fi.Size() != 100_000 {
		t.Fatalf("the added torrent's file: %v", err)
	}
	if err := os.Remove(filepath.Join(torrents, "first.torrent")); err != nil {
		t.Fatal(err)
	}
	waitFor("later")
}

func TestMountDaemon(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "d.bin"), 100_000, 3)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "d.bin"), harness.TorrentOptions{})
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	r := harness.RunTorfs(t, bin, "mount", "--daemon", "--cache-dir", t.TempDir(), torrent, mnt)
	var pid int
	if i := strings.Index(r.Stdout, "runs as pid "); i < 0 {
		t.Fatalf("torfs mount --daemon did not say which process serves the mount:\n%s", r.Stdout)
	} else if _, err := fmt.Sscanf(r.Stdout[i:], "runs as pid %d", &pid); err != nil {
		t.Fatal(err)
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proc.Kill() })
	if fi, err := os.Stat(filepath.Join(mnt, "d.bin")); err != nil || fi.Size() != 100_000 {
		t.Fatalf("the daemon's mount: %v", err)
	}
	var logPath string
	if i := strings.Index(r.Stdout, "logging to "); i < 0 {
		t.Fatalf("torfs mount --daemon did not name its log:\n%s", r.Stdout)
	} else {
		logPath = strings.TrimSuffix(strings.Fields(r.Stdout[i+len("logging to "):])[0], ";")
		// Appended to at its documented place (/var/log/torfs for
		// root): the test's own mountpoint names it.
		t.Cleanup(func() { _ = os.Remove(logPath) })
	}
	daemonLog, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatalf("the daemon's log: %v", err)
	}
	if !strings.Contains(string(daemonLog), "mounted ") {
		t.Errorf("the daemon's log does not say it mounted:\n%s", daemonLog)
	}
	for _, out := range []string{r.Stdout, string(daemonLog)} {
		if strings.Contains(out, "Ctrl-C") {
			t.Errorf("a daemon, which has no terminal, tells the user to press Ctrl-C:\n%s", out)
		}
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx := harness.Context(t, 30*time.Second)
	for {
		ok, _ := harness.Mounted(mnt)
		alive := proc.Signal(syscall.Signal(0)) == nil
		if !ok && !alive {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after SIGTERM: mounted %v, daemon alive %v", ok, alive)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMountDownloadAllFetchesWithoutReads(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	spec := []harness.FileSpec{{Path: "x.bin", Size: 3<<20 + 5}, {Path: "y/z.bin", Size: 1<<20 + 7}}
	torrent, seed := seedWith(t, src, "all", spec, 64<<10)
	mnt := t.TempDir()
	mountTorfs(t, bin, torrent, mnt, "--download-all", "--peer", seed.Addr(), "--cache-dir", t.TempDir())
	ctx := harness.Context(t, 30*time.Second)
	for {
		st := mountStatus(t, mnt).Torrents[0]
		if st.Verified == st.Length {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("--download-all: %d of %d bytes verified without reads", st.Verified, st.Length)
		}
		time.Sleep(100 * time.Millisecond)
	}
	harness.AssertSameTree(t, spec, filepath.Join(src, "all"), mnt)
}
