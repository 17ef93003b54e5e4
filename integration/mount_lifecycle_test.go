package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/integration/harness"
)

// stopBound is how long a torfs mount may take to exit after the signal
// that stops it while a file is held open: the 3 s it keeps serving a
// lazily detached mount, and the rest for saving its cache.
const stopBound = 6 * time.Second

// mountLonely mounts a torrent no peer has (its files can be opened, not
// read) and returns the mount process and the path of its file.
func mountLonely(t *testing.T, bin string) (*harness.Process, string, string) {
	t.Helper()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "held.bin"), 1<<20, 21)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "held.bin"), harness.TorrentOptions{})
	mnt := t.TempDir()
	p := mountTorfs(t, bin, torrent, mnt, "--listen", "127.0.0.1:0", "--cache-dir", t.TempDir())
	return p, mnt, filepath.Join(mnt, "held.bin")
}

// holdOpen starts a process that holds path open (as its stdin) until the
// test ends.
func holdOpen(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	holder := exec.Command("sleep", "600")
	holder.Stdin = f
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
}

// waitExit waits for p to exit, failing the test after stopBound.
func waitExit(t *testing.T, p *harness.Process, after string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(stopBound):
		t.Fatalf("torfs mount still running %v after %s\n%s", stopBound, after, p.Output())
	}
	if code, _ := p.Exited(); code != 0 {
		t.Errorf("torfs mount exited %d after %s\n%s", code, after, p.Output())
	}
}

func assertUnmounted(t *testing.T, mnt string, p *harness.Process) {
	t.Helper()
	if ok, err := harness.Mounted(mnt); err != nil || ok {
		t.Errorf("%s still in /proc/self/mountinfo after torfs mount exited (%v)\n%s", mnt, err, p.Output())
	}
}

// Each stopping signal, sent while another process holds a file open in
// the mount, detaches the mount at once, says so, and ends torfs within
// a few seconds without leaving a dead mount behind.
func TestMountSignalWithFileOpenLeavesNoMount(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			p, mnt, file := mountLonely(t, bin)
			holdOpen(t, file)
			if err := p.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waitExit(t, p, unix.SignalName(sig))
			assertUnmounted(t, mnt, p)
			if !strings.Contains(p.Output(), "detached the mount lazily") {
				t.Errorf("torfs did not say it detached the busy mount:\n%s", p.Output())
			}
		})
	}
}

// A second Ctrl-C after the lazy detach stops serving the open file at
// once instead of at the end of the grace period.
func TestMountSecondInterruptStopsAtOnce(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	p, mnt, file := mountLonely(t, bin)
	holdOpen(t, file)
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitOutput(harness.Context(t, stopBound), "detached the mount lazily"); err != nil {
		t.Fatal(err)
	}
	if ok, err := harness.Mounted(mnt); err != nil || ok {
		t.Errorf("%s still mounted after the lazy detach (%v)", mnt, err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p, "a second SIGINT")
	assertUnmounted(t, mnt, p)
	if !strings.Contains(p.Output(), "stopping now") {
		t.Errorf("torfs did not stop on the second SIGINT (it waited out the grace period):\n%s", p.Output())
	}
}

// A copy of the mount in another mount namespace (a container started
// while mounted) keeps the file system in use after the unmount here:
// torfs says so and stops within a few seconds instead of waiting for it.
func TestMountHeldByAnotherNamespaceStops(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3", "unshare")
	bin := harness.BuildTorfs(t)
	p, mnt, _ := mountLonely(t, bin)
	args := []string{"--mount", "sh", "-c", "echo ready; exec sleep 600"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	holder := harness.Start(t, harness.Command{Path: "unshare", Args: args})
	if _, err := holder.WaitOutput(harness.Context(t, 30*time.Second), "ready"); err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p, "SIGINT")
	assertUnmounted(t, mnt, p)
	if !strings.Contains(p.Output(), "mounted in another mount namespace") {
		t.Errorf("torfs did not say what kept the file system in use:\n%s", p.Output())
	}
}

// A torfs killed outright leaves a dead mount ("Transport endpoint is not
// connected"); the next torfs mount on it clears it and says so.
func TestMountKilledLeavesMountClearedByNext(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "k.bin"), 100_000, 22)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "k.bin"), harness.TorrentOptions{})
	mnt := t.TempDir()
	args := []string{"--listen", "127.0.0.1:0", "--cache-dir", t.TempDir()}
	p := mountTorfs(t, bin, torrent, mnt, args...)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(harness.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of the mountpoint of a killed torfs: %v, want ENOTCONN (a dead mount)", err)
	}

	p = mountTorfs(t, bin, torrent, mnt, args...)
	if !strings.Contains(p.Output(), "clearing a stale torfs mount") {
		t.Errorf("torfs did not say it cleared the stale mount:\n%s", p.Output())
	}
	if fi, err := os.Stat(filepath.Join(mnt, "k.bin")); err != nil || fi.Size() != 100_000 {
		t.Fatalf("the new mount over the stale one: %v", err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, p, "SIGINT")
	assertUnmounted(t, mnt, p)
}

// A mount that fusermount3 refuses says why, not "fusermount exited with
// code 256". The user is nobody when the test runs as root; the
// mountpoint is one the user cannot write to. Where /dev/fuse is open to
// everyone that is the cause given; where it is not (a container), that.
func TestMountRefusedSaysWhy(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	// Everything nobody must read lives in one world-readable directory.
	shared, err := os.MkdirTemp("", "torfs-unprivileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	mnt, cache := filepath.Join(shared, "mnt"), filepath.Join(shared, "cache")
	for dir, mode := range map[string]os.FileMode{shared: 0o755, mnt: 0o555, cache: 0o777} {
		if err := os.MkdirAll(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}
	harness.RandomFile(t, filepath.Join(shared, "r.bin"), 10_000, 23)
	torrent, torfs := filepath.Join(shared, "r.torrent"), filepath.Join(shared, "torfs")
	for from, to := range map[string]string{
		harness.MakeTorrent(t, filepath.Join(shared, "r.bin"), harness.TorrentOptions{}): torrent,
		bin: torfs,
	} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	harness.CleanupMount(t, mnt)
	cmd := harness.Command{Path: torfs, Args: []string{"mount", "--no-dht", "--listen", "127.0.0.1:0", "--cache-dir", cache, torrent, mnt}}
	if os.Geteuid() == 0 {
		cmd = harness.Command{Path: "setpriv", Args: append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", torfs}, cmd.Args...)}
	}
	r := harness.Run(t, cmd)
	if r.Code != 1 {
		t.Fatalf("torfs mount on a mountpoint its user cannot write: exit %d, want 1\n%v", r.Code, r)
	}
	if strings.Contains(r.Stderr, "exited with code") {
		t.Errorf("the error shows a raw wait status:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stderr, "FUSE is not available: you cannot open /dev/fuse") &&
		!strings.Contains(r.Stderr, "no permission to mount on "+mnt) {
		t.Errorf("the error does not say why the mount failed:\n%s", r.Stderr)
	}
}
