package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	torfsfs "github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/integration/harness"
)

// TestMountMagnetFromLibtorrent mounts a magnet link whose only peer, a
// libtorrent seeder, starts after the mount shows its placeholder: the
// metadata cannot arrive before the placeholder has been seen. Then the
// tree replaces it, every file reads back equal, and a second mount of
// the same magnet, with the seeder gone, shows the tree from the saved
// .torrent.
func TestMountMagnetFromLibtorrent(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3", "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	spec := []harness.FileSpec{{Path: "cover.jpg", Size: 70_001}, {Path: "disc1/track01.flac", Size: 3<<20 + 4321}}
	src := t.TempDir()
	harness.RandomTree(t, filepath.Join(src, "album"), spec, 11)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "album"), harness.TorrentOptions{PieceLength: pl})
	hash := harness.InfoHash(t, torrent)

	// The seeder's address is in the link; nothing listens there yet.
	seedAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&dn=album&x.pe=%s", hash, seedAddr)
	cacheDir, mnt := t.TempDir(), t.TempDir()
	placeholder := filepath.Join(mnt, torfsfs.ResolvingName)

	started := time.Now()
	p, line := mountMagnet(t, bin, magnet, mnt, "album", "-v", "--cache-dir", cacheDir, "--listen", "127.0.0.1:0")
	if !strings.Contains(line, "resolving the magnet's metadata") {
		t.Errorf("mount line = %q", line)
	}
	text, err := os.ReadFile(placeholder)
	if err != nil {
		t.Fatalf("reading the placeholder: %v", err)
	}
	t.Logf("mount to placeholder: %v", time.Since(started))
	prefix := fmt.Sprintf("resolving metadata for album (%s): ", hash)
	if !strings.HasPrefix(string(text), prefix) {
		t.Errorf("placeholder = %q, want it to start with %q", text, prefix)
	}
	// The content follows the resolver: it learns the link's peer and
	// fails to reach it, since nothing listens there yet.
	ctx := harness.Context(t, 30*time.Second)
	for !strings.HasPrefix(string(text), prefix+"1 peer, 0 connected, metadata size not known yet") ||
		!strings.Contains(string(text), "\nlast error: ") {
		select {
		case <-ctx.Done():
			t.Fatalf("the placeholder never reported the refused peer: %q", text)
		case <-time.After(50 * time.Millisecond):
		}
		if text, err = os.ReadFile(placeholder); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("placeholder after the first attempt:\n%s", text)
	if entries, err := os.ReadDir(mnt); err != nil || len(entries) != 1 || entries[0].Name() != torfsfs.ResolvingName {
		t.Errorf("mount while resolving lists %v, %v; want only the placeholder", entries, err)
	}
	if got := getxattr(t, mnt, torfsfs.XattrState); !strings.HasPrefix(got, "resolving metadata for album") {
		t.Errorf("state xattr = %q", got)
	}
	if st := mountStatus(t, mnt); len(st.Resolving) != 1 || st.Resolving[0].State != "resolving metadata" || len(st.Torrents) != 0 {
		t.Errorf("status while resolving = %+v", st)
	}
	if out := harness.RunTorfs(t, bin, "status", mnt).Stdout; !strings.Contains(out, "resolving metadata for album") {
		t.Errorf("torfs status while resolving:\n%s", out)
	}

	// Only now can the metadata come from anywhere.
	seedStart := time.Now()
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, Listen: seedAddr})
	t.Logf("seeder start to listening: %v", time.Since(seedStart))
	waitReady(harness.Context(t, 90*time.Second), t, p, mnt, "no tree after the seeder started", "resolving")
	t.Logf("seeder start to tree: %v", time.Since(seedStart))

	// The tree is there without a remount, and every byte reads back.
	if got, want := lsR(t, mnt), lsR(t, filepath.Join(src, "album")); got != want {
		t.Errorf("ls -R of the mount:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Stat(placeholder); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("placeholder after resolving: %v", err)
	}
	for _, f := range spec {
		harness.AssertSameFile(t, filepath.Join(src, "album", f.Path), filepath.Join(mnt, f.Path))
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(harness.Context(t, 30*time.Second)); err != nil || code != 0 {
		t.Fatalf("torfs mount exit %d, %v:\n%s", code, err, p.Output())
	}
	saved := filepath.Join(cacheDir, "torrents", hash.String()+".torrent")
	if got := harness.InfoHash(t, saved); got != hash {
		t.Fatalf("saved torrent %s has info-hash %s, want %s", saved, got, hash)
	}

	// With the seeder gone nobody has the metadata: a tree now comes from
	// the saved .torrent.
	if err := seed.Stop(); err != nil {
		t.Logf("stopping the seeder: %v", err)
	}
	again := t.TempDir()
	p2, line := mountMagnet(t, bin, magnet, again, "album", "-v", "--cache-dir", cacheDir, "--listen", "127.0.0.1:0")
	if strings.Contains(line, "resolving") {
		t.Errorf("second mount line = %q, want no resolving", line)
	}
	if got, want := lsR(t, again), lsR(t, filepath.Join(src, "album")); got != want {
		t.Errorf("ls -R of the second mount:\n%s\nwant:\n%s", got, want)
	}
	if getxattr(t, again, torfsfs.XattrInfoHash) != hash.String() {
		t.Errorf("second mount's info-hash = %q", getxattr(t, again, torfsfs.XattrInfoHash))
	}
	if !strings.Contains(p2.Stderr(), "using the saved metadata") || strings.Contains(p2.Stderr(), "resolving the metadata") {
		t.Errorf("second mount's log does not say it used the saved metadata without resolving:\n%s", p2.Stderr())
	}
}

// TestMountMagnetUnmountWhileResolving stops a mount whose metadata never
// arrives: it exits promptly and cleanly, leaving nothing mounted.
func TestMountMagnetUnmountWhileResolving(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&dn=nowhere&x.pe=127.0.0.1:%d", strings.Repeat("ab", 20), harness.FreePort(t))
	mnt := t.TempDir()
	p, _ := mountMagnet(t, bin, magnet, mnt, "nowhere", "--cache-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if _, err := os.ReadFile(filepath.Join(mnt, torfsfs.ResolvingName)); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Prompt: well within the time a stuck resolver or an unmount waiting
	// for files would take.
	if code, err := p.Wait(harness.Context(t, 15*time.Second)); err != nil || code != 0 {
		t.Fatalf("torfs mount exit %d, %v:\n%s", code, err, p.Output())
	}
	if ok, err := harness.Mounted(mnt); err != nil || ok {
		t.Errorf("%s still mounted after exit: %v, %v", mnt, ok, err)
	}
	if !strings.Contains(p.Stderr(), "unmounted "+mnt) {
		t.Errorf("exit message:\n%s", p.Stderr())
	}
}

// mountMagnet starts `torfs mount` of magnet on mnt with args and waits
// for the line saying name is mounted (with -v the log also says
// "mounted", earlier), which it returns. The mount is removed when the
// test ends whatever happens.
func mountMagnet(t *testing.T, bin, magnet, mnt, name string, args ...string) (*harness.Process, string) {
	t.Helper()
	harness.CleanupMount(t, mnt)
	p := harness.StartTorfs(t, bin, append(append([]string{"mount"}, args...), magnet, mnt)...)
	line, err := p.WaitOutput(harness.Context(t, time.Minute), "mounted "+name+" on "+mnt)
	if err != nil {
		t.Fatal(err)
	}
	return p, line
}

// lsR is `ls -R dir` with dir replaced by ROOT.
func lsR(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ls", "-R", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -R %s: %v: %s", dir, err, out)
	}
	return strings.ReplaceAll(string(out), dir, "ROOT")
}
