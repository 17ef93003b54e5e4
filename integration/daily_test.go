package integration

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// serveTorrent serves the .torrent file at path over HTTP on loopback
// and returns its URL.
func serveTorrent(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/t/"+filepath.Base(path) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-bittorrent")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/t/" + filepath.Base(path)
}

// TestGetAndMountTorrentURL: torfs get and torfs mount take the http://
// URL of a .torrent file, and say what is wrong with a URL that serves
// none.
func TestGetAndMountTorrentURL(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	t.Parallel()
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	src := t.TempDir()
	spec := harness.MixedTree(pl)
	torrent, seed := seedWith(t, src, "tree", spec, pl)
	url := serveTorrent(t, torrent)

	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), url)
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), filepath.Join(out, "tree"))

	mnt := t.TempDir()
	cacheDir := t.TempDir()
	mountTorfs(t, bin, url, mnt, "--peer", seed.Addr(), "--listen", "127.0.0.1:0", "--cache-dir", cacheDir)
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), mnt)

	bad := harness.RunTorfsStatus(t, bin, "get", "-o", t.TempDir(), "--peer", seed.Addr(), url+".missing")
	if bad.Code != 1 || !strings.Contains(bad.Stderr, "404 Not Found") {
		t.Errorf("get of a missing URL: %v", bad)
	}
}

// TestListAndUmount: torfs list shows two running mounts; torfs umount
// ends one (its process exits, its mountpoint is free) and leaves the
// other, which list then shows alone; umount refuses a directory that is
// no torfs mount.
func TestListAndUmount(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	t.Parallel()
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "one.bin"), 1<<20+3, 21)
	harness.RandomFile(t, filepath.Join(src, "two.bin"), 2<<20+5, 22)
	one := harness.MakeTorrent(t, filepath.Join(src, "one.bin"), harness.TorrentOptions{})
	two := harness.MakeTorrent(t, filepath.Join(src, "two.bin"), harness.TorrentOptions{})
	env := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}
	torfs := func(args ...string) *harness.Result {
		return harness.Run(t, harness.Command{Path: bin, Args: args, Env: env})
	}
	start := func(torrent, mnt string) *harness.Process {
		harness.CleanupMount(t, mnt)
		p := harness.Start(t, harness.Command{Path: bin, Env: env, Args: []string{
			"mount", "--no-dht", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:1", "--cache-dir", t.TempDir(), torrent, mnt}})
		if _, err := p.WaitOutput(harness.Context(t, time.Minute), "mounted "); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mntA, mntB := t.TempDir(), t.TempDir()
	pa := start(one, mntA)
	pb := start(two, mntB)

	list := torfs("list")
	if list.Code != 0 || !strings.Contains(list.Stdout, mntA+"  pid "+strconv.Itoa(pa.Pid())+"  one.bin") ||
		!strings.Contains(list.Stdout, mntB+"  pid "+strconv.Itoa(pb.Pid())+"  two.bin") || !strings.Contains(list.Stdout, "cache ") {
		t.Fatalf("torfs list with two mounts: %v", list)
	}

	um := torfs("umount", mntA)
	if um.Code != 0 || !strings.Contains(um.Stdout, "unmounted "+mntA) {
		t.Fatalf("torfs umount: %v", um)
	}
	// umount saw the process exit; the harness reaps it a moment later.
	if code, err := pa.Wait(harness.Context(t, 5*time.Second)); err != nil || code != 0 {
		t.Errorf("torfs umount returned, but the mount's process %d: exit %d, %v\n%s", pa.Pid(), code, err, pa.Output())
	}
	if ok, err := harness.Mounted(mntA); err != nil || ok {
		t.Errorf("%s still mounted (%v) after torfs umount", mntA, err)
	}
	list = torfs("list")
	if list.Code != 0 || strings.Contains(list.Stdout, mntA) || !strings.Contains(list.Stdout, mntB) {
		t.Errorf("torfs list after unmounting %s: %v", mntA, list)
	}

	not := torfs("umount", mntA)
	if not.Code != 1 || !strings.Contains(not.Stderr, "is not a torfs mount") {
		t.Errorf("torfs umount of a directory that is no mount: %v", not)
	}
	if um := torfs("umount", mntB); um.Code != 0 {
		t.Errorf("torfs umount %s: %v", mntB, um)
	}
	if list := torfs("list"); list.Code != 0 || !strings.Contains(list.Stdout, "no torfs mounts") {
		t.Errorf("torfs list with no mount: %v", list)
	}
}

// TestGetOnlyOneFile: torfs get --only of one file of a multi-file
// torrent seeded by libtorrent downloads that file's pieces and no
// others (the two it shares with its neighbours included), and leaves
// the other files sparse, holding no more than those shared pieces.
func TestGetOnlyOneFile(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	spec := []harness.FileSpec{
		{Path: "a.bin", Size: 200<<10 + 100},
		{Path: "b/film.mkv", Size: 1<<20 + 333},
		{Path: "c.bin", Size: 300<<10 + 7},
	}
	src := t.TempDir()
	torrent, seed := seedWith(t, src, "tree", spec, pl)
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), "--only", "film.mkv", torrent)
	harness.AssertSameFile(t, filepath.Join(src, "tree", "b", "film.mkv"), filepath.Join(out, "tree", "b", "film.mkv"))

	film := mi.Info.Files[1]
	first, last := mi.Info.PieceRange(film.Offset, film.Length)
	var wantBytes int64
	for i := first; i <= last; i++ {
		wantBytes += mi.Info.PieceSize(i)
	}
	var received int64
	i := strings.Index(r.Stdout, "received ")
	if i < 0 {
		t.Fatalf("no byte count in %q", r.Stdout)
	}
	if _, err := fmt.Sscanf(r.Stdout[i:], "received %d bytes", &received); err != nil {
		t.Fatalf("no byte count in %q: %v", r.Stdout, err)
	}
	if received < film.Length || received > wantBytes {
		t.Errorf("received %d bytes for a file of %d in pieces of %d bytes (want at most %d)", received, film.Length, wantBytes, wantBytes)
	}
	if !strings.Contains(r.Stdout, "downloaded 1 file of tree") {
		t.Errorf("the summary does not say one file: %q", r.Stdout)
	}
	// The other files hold at most the pieces shared with film.mkv.
	for _, name := range []string{"a.bin", "c.bin"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(out, "tree", name), &st); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Fatal(err)
		}
		t.Logf("%s: size %d, %d bytes on disk", name, st.Size, st.Blocks*512)
		if used := st.Blocks * 512; used > pl+4096 {
			t.Errorf("%s, not selected, takes %d bytes on disk", name, used)
		}
	}
}

// TestSeedRatioStops: torfs seed --seed-ratio 1 uploads the torrent once
// to a libtorrent leecher and exits 0 on its own; torfs get --seed-time
// seeds after its download, then exits 0.
func TestSeedRatioStops(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	const size = 3<<20 + 17
	harness.RandomFile(t, filepath.Join(src, "data.bin"), size, 23)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "data.bin"), harness.TorrentOptions{})
	p, addr := seedProcess(t, bin, src, torrent, "--seed-ratio", "1")
	if !strings.Contains(p.Stdout(), "or it stops at ratio 1") {
		t.Errorf("the seed does not say when it stops: %q", p.Stdout())
	}
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait(harness.Context(t, time.Minute))
	if err != nil || code != 0 {
		t.Fatalf("torfs seed --seed-ratio 1 after uploading everything: exit %d, %v\n%s", code, err, p.Output())
	}
	if !strings.Contains(p.Stderr(), "stopped seeding: ratio 1.00 reached") {
		t.Errorf("torfs seed does not say why it stopped:\n%s", p.Output())
	}
	harness.AssertSameFile(t, filepath.Join(src, "data.bin"), filepath.Join(leech.Save(), "data.bin"))

	r := harness.RunTorfs(t, bin, "get", "-o", t.TempDir(), "--listen", "127.0.0.1:0", "--peer", leech.Addr(), "--seed-time", "1s", torrent)
	if !strings.Contains(r.Stderr, "stopped seeding: seeded for 1s") {
		t.Errorf("torfs get --seed-time 1s:\n%s", r.Stderr)
	}
}

// TestUmountNamesHolders: when the mount does not go within --timeout
// (here its torfs is stopped), torfs umount fails naming the programs
// using the mount; once torfs runs again it ends the mount as asked.
func TestUmountNamesHolders(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3", "sleep")
	t.Parallel()
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "one.bin"), 1<<20, 24)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "one.bin"), harness.TorrentOptions{})
	env := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	p := harness.Start(t, harness.Command{Path: bin, Env: env, Args: []string{
		"mount", "--no-dht", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:1", "--cache-dir", t.TempDir(), torrent, mnt}})
	if _, err := p.WaitOutput(harness.Context(t, time.Minute), "mounted "); err != nil {
		t.Fatal(err)
	}
	holder := harness.Start(t, harness.Command{Path: "sleep", Args: []string{"600"}, Dir: mnt, Name: "sleep in the mount"})
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Signal(syscall.SIGCONT) })
	um := harness.Run(t, harness.Command{Path: bin, Env: env, Args: []string{"umount", "--timeout", "1s", mnt}})
	if um.Code != 1 || !strings.Contains(um.Stderr, "still mounted after 1s") ||
		!strings.Contains(um.Stderr, "sleep (pid "+strconv.Itoa(holder.Pid())+")") {
		t.Errorf("torfs umount of a mount whose torfs is stopped: %v", um)
	}
	if err := holder.Stop(); err != nil {
		t.Log(err)
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The SIGTERM umount sent is delivered now.
	if code, err := p.Wait(harness.Context(t, 30*time.Second)); err != nil || code != 0 {
		t.Errorf("the mount after SIGCONT: exit %d, %v", code, err)
	}
}
