package integration

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/mountreg"
)

// mountHelperPath is where mount(8) looks for the helper of type torfs
// (util-linux searches /sbin, /sbin/fs.d and /sbin/fs, nothing else).
const mountHelperPath = "/sbin/mount.torfs"

// installMountHelper makes bin mount(8)'s helper for type torfs for the
// test's duration: /sbin/mount.torfs, a symlink to it, as make install
// makes. It needs root, and skips, saying why, without it or when a
// mount.torfs is installed already (it does not replace one). Tests
// that use it run one at a time, also across test binaries.
func installMountHelper(t *testing.T, bin string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: mount(8) runs helpers only from /sbin, where the test puts %s for its duration", filepath.Base(mountHelperPath))
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "torfs-mount-helper-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx := harness.Context(t, 2*time.Minute)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		select {
		case <-ctx.Done():
			lock.Close()
			t.Fatalf("another test holds %s: %v", lock.Name(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the lock
	switch target, err := os.Readlink(mountHelperPath); {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && !exists(target):
		// Left by a test that was killed: its build is gone.
		if err := os.Remove(mountHelperPath); err != nil {
			t.Fatal(err)
		}
	default:
		t.Skipf("%s is installed already (%s): the test does not replace it", mountHelperPath, describe(target, err))
	}
	if err := os.Symlink(bin, mountHelperPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cur, err := os.Readlink(mountHelperPath); err == nil && cur == bin {
			_ = os.Remove(mountHelperPath)
		}
	})
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func describe(target string, err error) string {
	if err != nil {
		return "not a symlink"
	}
	return "a symlink to " + target
}

// helperMount is a mount made by mount(8) through mount.torfs: the
// torfs process serving it, as its PID file names it.
type helperMount struct {
	mnt   string
	pid   int
	pidfd int
}

// mountedBy checks that mnt is mounted as soon as mount(8) returned
// (mount.torfs returns only then), finds the daemon through its PID
// file, checks that the register of mounts knows it, and kills it when
// the test ends if it is still running.
func mountedBy(t *testing.T, mnt, pidFile string) *helperMount {
	t.Helper()
	if ok, err := harness.Mounted(mnt); err != nil || !ok {
		t.Fatalf("mount returned, but %s is not mounted (%v)", mnt, err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the daemon's PID file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the PID file %s holds %q", pidFile, b)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("the daemon, pid %d: %v", pid, err)
	}
	t.Cleanup(func() {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		unix.Close(pidfd)
	})
	entries, err := mountreg.List(mountreg.Dir())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		found = found || e.PID == pid && e.Mountpoint == mnt
	}
	if !found {
		t.Errorf("the register of mounts has no entry for pid %d on %s: %+v", pid, mnt, entries)
	}
	return &helperMount{mnt: mnt, pid: pid, pidfd: pidfd}
}

// umount unmounts with umount(8), through the kernel alone, and checks
// that the daemon notices, exits and leaves nothing behind.
func (m *helperMount) umount(t *testing.T, pidFile string) {
	t.Helper()
	start := time.Now()
	if r := harness.Run(t, harness.Command{Path: "umount", Args: []string{m.mnt}}); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	ctx := harness.Context(t, 30*time.Second)
	if !waitPidfd(ctx, m.pidfd) {
		t.Fatalf("torfs, pid %d, still runs %v after umount %s", m.pid, 30*time.Second, m.mnt)
	}
	t.Logf("torfs exited %v after umount began", time.Since(start).Round(time.Millisecond))
	if ok, _ := harness.Mounted(m.mnt); ok {
		t.Errorf("%s is still mounted", m.mnt)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the PID file %s outlived the daemon: %v", pidFile, err)
	}
	entries, _ := mountreg.List(mountreg.Dir())
	for _, e := range entries {
		if e.PID == m.pid {
			t.Errorf("the register still lists the daemon: %+v", e)
		}
	}
}

// waitPidfd waits until the process of pidfd has exited, or ctx ends.
func waitPidfd(ctx context.Context, pidfd int) bool {
	for ctx.Err() == nil {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, 100); n > 0 {
			return true
		}
	}
	return false
}

// TestMountHelperMountUmount mounts a torrent with mount -t torfs, as a
// systemd .mount unit does, reads it, and unmounts it with umount.
func TestMountHelperMountUmount(t *testing.T) {
	harness.Require(t, "/dev/fuse", "python3-libtorrent", "mount", "umount")
	bin := harness.BuildTorfs(t)
	installMountHelper(t, bin)
	src := t.TempDir()
	torrent, seed := seedWith(t, src, "film", []harness.FileSpec{{Path: "film.bin", Size: 3<<20 + 4321}}, 64<<10)
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	logFile := filepath.Join(t.TempDir(), "mount.log")
	opts := "cache_size=64MiB,cache_dir=" + t.TempDir() + ",peer=" + seed.Addr() + ",no_dht,listen=127.0.0.1:0,log=" + logFile
	r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"-t", "torfs", "-o", opts, torrent, mnt}})
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	// The PID file's default place: beside the register of mounts,
	// named for the mountpoint as systemd names its mount unit.
	pidFile := filepath.Join(mountreg.Dir(), strings.ReplaceAll(strings.Trim(mnt, "/"), "/", "-")+".pid")
	m := mountedBy(t, mnt, pidFile)
	harness.AssertSameFile(t, filepath.Join(src, "film", "film.bin"), filepath.Join(mnt, "film.bin"))
	m.umount(t, pidFile)
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "mounted film on "+mnt) || !strings.Contains(string(log), "unmounted "+mnt) {
		t.Errorf("the daemon's log does not say it mounted and unmounted:\n%s", log)
	}
	if strings.Contains(string(log), "Ctrl-C") {
		t.Errorf("the daemon's log tells the user to press Ctrl-C, but it has no terminal:\n%s", log)
	}
}

// TestMountHelperFstab mounts through an fstab line, as mount -a does at
// boot, and checks that mount.torfs refuses what it does not know and
// fails with the mount's own error.
func TestMountHelperFstab(t *testing.T) {
	harness.Require(t, "/dev/fuse", "python3-libtorrent", "mount", "umount")
	bin := harness.BuildTorfs(t)
	installMountHelper(t, bin)
	src := t.TempDir()
	torrent, seed := seedWith(t, src, "iso", []harness.FileSpec{{Path: "a.iso", Size: 2<<20 + 17}, {Path: "b/c.txt", Size: 5000}}, 32<<10)
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	dir := t.TempDir()
	logFile, pidFile := filepath.Join(dir, "iso.log"), filepath.Join(dir, "iso.pid")
	fstab := filepath.Join(dir, "fstab")
	line := fmt.Sprintf("%s %s torfs cache_size=64MiB,cache_dir=%s,readahead=4MiB,allow_other,_netdev,nofail,x-systemd.mount-timeout=30,peer=%s,no_dht,listen=127.0.0.1:0,log=%s,pid_file=%s 0 0\n",
		torrent, mnt, filepath.Join(dir, "cache"), seed.Addr(), logFile, pidFile)
	if err := os.WriteFile(fstab, []byte("# torfs at boot\n"+line), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"--fstab", fstab, mnt}}); r.Code != 0 {
		t.Fatalf("%s\n%v", line, r)
	}
	m := mountedBy(t, mnt, pidFile)
	harness.AssertSameFile(t, filepath.Join(src, "iso", "a.iso"), filepath.Join(mnt, "a.iso"))
	harness.AssertSameFile(t, filepath.Join(src, "iso", "b", "c.txt"), filepath.Join(mnt, "b", "c.txt"))
	m.umount(t, pidFile)

	// An option torfs does not know is an error naming it; nothing is
	// mounted.
	other := t.TempDir()
	harness.CleanupMount(t, other)
	r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"-t", "torfs", "-o", "no_dht,no_port_map,listen=127.0.0.1:0,cache_sise=1GiB", torrent, other}})
	if r.Code == 0 || !strings.Contains(r.Stderr, `unknown option "cache_sise=1GiB"`) {
		t.Errorf("an unknown option: %v", r)
	}
	// A mount that fails says why and exits non-zero: mount(8) waited
	// for it.
	missing := filepath.Join(dir, "missing.torrent")
	r = harness.Run(t, harness.Command{Path: "mount", Args: []string{"-t", "torfs", "-o", "no_dht,listen=127.0.0.1:0,cache_dir=" + filepath.Join(dir, "cache") + ",log=" + filepath.Join(dir, "missing.log"), missing, other}})
	if r.Code == 0 || !strings.Contains(r.Stderr, missing) {
		t.Errorf("a mount of a missing torrent: %v", r)
	}
	if ok, _ := harness.Mounted(other); ok {
		t.Errorf("%s was mounted after errors", other)
	}
}
