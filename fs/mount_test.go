package fs

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary a process that mounts a fake torrent
// on the directory it names, prints "mounted" and serves until killed.
const helperEnv = "TORFS_FS_TEST_MOUNT_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		serveForever(dir)
		return
	}
	os.Exit(m.Run())
}

func serveForever(dir string) {
	var t testing.T
	ft := multiFileTorrent(&t)
	ft.setAll()
	if _, err := Mount(dir, NewTorrentDir(ft, Options{}), MountOptions{}); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("mounted\n")
	select {}
}

// startHelper runs the test binary as a process that mounts a fake
// torrent on dir and serves it; it is killed, and dir unmounted, when the
// test ends.
func startHelper(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+dir)
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		_ = detach(dir) // in case the test failed before clearing it
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "mounted\n" {
		t.Fatalf("helper did not mount: %q, %v", line, err)
	}
	return helper
}

func TestStaleMountIsCleared(t *testing.T) {
	dir := t.TempDir()
	helper := startHelper(t, dir)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of the dead mount: %v, want ENOTCONN", err)
	}

	ft := multiFileTorrent(t)
	ft.setAll()
	srv, err := Mount(dir, NewTorrentDir(ft, Options{}), MountOptions{})
	if err != nil {
		t.Fatalf("mounting over the stale mount: %v", err)
	}
	t.Cleanup(func() { _ = srv.Unmount(context.Background()) })
	if fi, err := os.Stat(filepath.Join(dir, "video", "film.mkv")); err != nil || fi.Size() != 300_000 {
		t.Fatalf("the new mount: %v", err)
	}
	if err := srv.Unmount(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mountType(dir) != "" {
		t.Errorf("%s is still mounted after Unmount", dir)
	}
}

// A mount whose server is stopped (hung) is reported at once, not waited
// for.
func TestMountReportsHungServer(t *testing.T) {
	dir := t.TempDir()
	helper := startHelper(t, dir)
	if err := helper.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill returns before the helper stops: wait until all its threads
	// have (the kernel tells the parent then), or one may still answer.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(helper.Process.Pid, &ws, syscall.WUNTRACED, nil); err != nil || !ws.Stopped() {
		t.Fatalf("waiting for the helper to stop: %v, status %v", err, ws)
	}
	err := checkMountpoint(dir, slog.New(slog.DiscardHandler), 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("checkMountpoint on a stopped server's mount: %v, want a 'does not answer' error", err)
	}
}

func TestMountRefusesLiveMount(t *testing.T) {
	ft := multiFileTorrent(t)
	srv, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	_, err := Mount(dir, NewTorrentDir(ft, Options{}), MountOptions{})
	if err == nil || !strings.Contains(err.Error(), "already mounted") {
		t.Fatalf("second mount on %s: %v, want an 'already mounted' error", srv.Dir(), err)
	}
}

func TestUnmountWhileFileOpenDetaches(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	srv, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	f, err := os.Open(filepath.Join(dir, "readme.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	lazy, err := srv.Detach()
	if err != nil || !lazy {
		t.Fatalf("Detach with a file open = %v, %v; want a lazy detach", lazy, err)
	}
	if mountType(dir) != "" {
		t.Errorf("the busy mount was not detached from %s", dir)
	}
	select {
	case <-srv.Done():
		t.Fatal("the server stopped while a file was still open")
	default:
	}
	// Unmount does not wait past its context, and says why.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Unmount(ctx); !errors.Is(err, ErrInUse) || !errors.Is(err, context.Canceled) {
		t.Errorf("Unmount with a file open and a cancelled context: %v, want ErrInUse and context.Canceled", err)
	}
	// The open file keeps working until closed.
	if _, err := f.ReadAt(make([]byte, 10), 0); err != nil {
		t.Errorf("reading the open file after detach: %v", err)
	}
	f.Close()
	waitDone(t, srv, "the server did not stop after the last file was closed")
}

func TestUnmountWhileMountedInAnotherNamespace(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	srv, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	// A process in a new mount namespace holds a copy of the mount, as a
	// container started while mounted would.
	args := []string{"--mount", "sh", "-c", "echo ready; exec sleep 600"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	holder := exec.Command("unshare", args...)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	killHolder := func() {
		_ = holder.Process.Kill()
		_ = holder.Wait()
	}
	t.Cleanup(killHolder)
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("unshare did not start: %q, %v", line, err)
	}

	// Unmounting here succeeds at once; the server keeps serving the
	// other namespace, and Unmount gives up when its context ends
	// rather than waiting for that namespace forever.
	lazy, err := srv.Detach()
	if err != nil || lazy {
		t.Fatalf("Detach of an idle mount = %v, %v; want an outright unmount", lazy, err)
	}
	if mountType(dir) != "" {
		t.Errorf("%s is still mounted here", dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Unmount(ctx); !errors.Is(err, ErrInUse) {
		t.Errorf("Unmount while another namespace holds the mount: %v, want ErrInUse", err)
	}
	killHolder()
	waitDone(t, srv, "the server did not stop after the other namespace went away")
}

// waitDone waits until srv stops serving.
func waitDone(t *testing.T, srv *Server, failure string) {
	t.Helper()
	select {
	case <-srv.Done():
	case <-time.After(20 * time.Second):
		t.Fatal(failure)
	}
}
