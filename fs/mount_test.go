package fs

import (
	"bufio"
	"context"
	"errors"
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

func TestStaleMountIsCleared(t *testing.T) {
	dir := t.TempDir()
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
	dir := t.TempDir()
	srv, err := Mount(dir, NewTorrentDir(ft, Options{}), MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "readme.txt"))
	if err != nil {
		_ = srv.Unmount(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Close()
		_ = srv.Unmount(context.Background())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = srv.Unmount(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unmount with a file open: %v, want it to wait for the file", err)
	}
	if mountType(dir) != "" {
		t.Errorf("the busy mount was not detached from %s", dir)
	}
	// The open file keeps working until closed.
	if _, err := f.ReadAt(make([]byte, 10), 0); err != nil {
		t.Errorf("reading the open file after detach: %v", err)
	}
	f.Close()
	select {
	case <-srv.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not stop after the last file was closed")
	}
}
