package fs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestTreeMatchesTorrent(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))

	type entry struct {
		mode fs.FileMode
		size int64
	}
	got := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		e := entry{mode: fi.Mode()}
		if fi.Mode().IsRegular() {
			e.size = fi.Size()
		}
		got[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]entry{
		"readme.txt":          {0o444, 1000},
		"video":               {fs.ModeDir | 0o555, 0},
		"video/film.mkv":      {0o444, 300_000},
		"video/extras":        {fs.ModeDir | 0o555, 0},
		"video/extras/run.sh": {0o555, 5000},
		"empty":               {0o444, 0},
		"video/latest":        {fs.ModeSymlink | 0o777, 0},
		"tail.bin":            {0o444, 70_001},
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %v (present %v), want %v", name, g, ok, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected entry %s (pad files must be hidden)", name)
		}
	}
	target, err := os.Readlink(filepath.Join(dir, "video", "latest"))
	if err != nil || target != "../video/film.mkv" {
		t.Errorf("readlink = %q, %v; want ../video/film.mkv", target, err)
	}

	// The same tree as another program sees it.
	out, err := exec.Command("ls", "-R", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -R: %v: %s", err, out)
	}
	for _, name := range []string{"readme.txt", "film.mkv", "run.sh", "latest", "tail.bin", "empty"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("ls -R does not show %s:\n%s", name, out)
		}
	}
	if strings.Contains(string(out), ".pad") {
		t.Errorf("ls -R shows the pad file:\n%s", out)
	}
}

func TestReadMatchesContent(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))

	// Whole files through other programs.
	local := t.TempDir()
	for i, f := range ft.info.Files {
		if f.Pad || f.Symlink != nil {
			continue
		}
		rel := filepath.Join(f.Path...)
		ref := filepath.Join(local, strings.ReplaceAll(rel, "/", "_"))
		if err := os.WriteFile(ref, ft.fileData(i), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cmp", ref, filepath.Join(dir, rel)).CombinedOutput(); err != nil {
			t.Errorf("cmp %s: %v: %s", rel, err, out)
		}
	}
	out, err := exec.Command("cat", filepath.Join(dir, "video", "latest")).Output()
	if err != nil || !bytes.Equal(out, ft.fileData(2)) {
		t.Errorf("cat through the symlink: %v, %d bytes", err, len(out))
	}

	// Random preads, in and across pieces, up to and past the end.
	f, err := os.Open(filepath.Join(dir, "video", "film.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := ft.fileData(2)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(int64(len(want)))
		buf := make([]byte, 1+rng.IntN(100_000))
		n, err := f.ReadAt(buf, off)
		end := min(off+int64(len(buf)), int64(len(want)))
		if int64(n) != end-off || (err != nil && end == off+int64(len(buf))) {
			t.Fatalf("pread(%d, %d) = %d, %v", off, len(buf), n, err)
		}
		if !bytes.Equal(buf[:n], want[off:end]) {
			t.Fatalf("pread(%d, %d) returned wrong bytes", off, len(buf))
		}
	}
}

func TestReadWaitsForVerifiedPieces(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))

	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := os.ReadFile(filepath.Join(dir, "tail.bin"))
		done <- result{b, err}
	}()
	waitBlocked(t, ft)
	select {
	case r := <-done:
		t.Fatalf("read returned before its pieces were verified: %d bytes, %v", len(r.b), r.err)
	default:
	}
	ft.setAll()
	r := <-done
	if r.err != nil || !bytes.Equal(r.b, ft.fileData(6)) {
		t.Fatalf("read after the pieces arrived: %v, %d bytes, equal=%v", r.err, len(r.b), bytes.Equal(r.b, ft.fileData(6)))
	}
}

func TestInterruptedReadReturnsAtOnce(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	t.Cleanup(func() { ft.stall(errors.New("test over")) })

	cat := exec.Command("cat", filepath.Join(dir, "video", "film.mkv"))
	if err := cat.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var err error
	go func() {
		err = cat.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		ft.stall(errors.New("test over")) // lets a stuck cat go
		_ = cat.Process.Kill()
		<-exited
	})
	waitBlocked(t, ft)
	if err := cat.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Without EINTR the kernel keeps cat in an unkillable wait until the
	// read is answered, which the fake never does.
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		stack, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stack", cat.Process.Pid))
		wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", cat.Process.Pid))
		ft.stall(errors.New("test over"))
		t.Fatalf("cat is still blocked after SIGINT (wchan %s):\n%s", wchan, stack)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("cat ended with %v, want death by SIGINT", err)
	}
	testutil.Eventually(t, "the handle's reader is closed", func() bool { return ft.open.Load() == 0 })
}

func TestStalledReadFailsWithEIO(t *testing.T) {
	ft := multiFileTorrent(t)
	var logs testutil.Buffer
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))

	f, err := os.Open(filepath.Join(dir, "readme.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := f.ReadAt(make([]byte, 100), 0)
		errc <- err
	}()
	waitBlocked(t, ft)
	ft.stall(errors.New("no progress for 2m0s: no peers"))
	if err := <-errc; !errors.Is(err, syscall.EIO) {
		t.Fatalf("stalled read: %v, want EIO", err)
	}
	if !strings.Contains(logs.String(), "no peers") || !strings.Contains(logs.String(), "readme.txt") {
		t.Errorf("the log does not say why the read failed:\n%s", logs.String())
	}
}

func TestWritesFailWithEROFS(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	file := filepath.Join(dir, "readme.txt")

	checks := map[string]error{}
	_, err := os.OpenFile(file, os.O_WRONLY, 0)
	checks["open for writing"] = err
	_, err = os.OpenFile(file, os.O_RDONLY|os.O_TRUNC, 0)
	checks["truncate"] = err
	checks["create"] = os.WriteFile(filepath.Join(dir, "new"), []byte("x"), 0o644)
	checks["mkdir"] = os.Mkdir(filepath.Join(dir, "newdir"), 0o755)
	checks["chmod"] = os.Chmod(file, 0o777)
	checks["rename"] = os.Rename(file, filepath.Join(dir, "moved"))
	checks["remove"] = os.Remove(file)
	checks["rmdir"] = os.Remove(filepath.Join(dir, "video", "extras"))
	checks["symlink"] = os.Symlink("readme.txt", filepath.Join(dir, "ln"))
	checks["setxattr"] = unix.Setxattr(file, "user.x", []byte("1"), 0)
	for what, err := range checks {
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", what, err)
		}
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, ft.fileData(0)) {
		t.Errorf("file changed or unreadable after the attempts: %v", err)
	}
}

func TestXattrs(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	get := func(path, attr string) string {
		t.Helper()
		buf := make([]byte, 128)
		n, err := unix.Getxattr(path, attr, buf)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, attr, err)
		}
		return string(buf[:n])
	}

	if got := get(dir, XattrInfoHash); got != ft.hash.String() {
		t.Errorf("infohash = %q, want %s", got, ft.hash)
	}
	film := filepath.Join(dir, "video", "film.mkv")
	if got := get(film, XattrProgress); got != "0/300000" {
		t.Errorf("progress before any piece = %q", got)
	}
	// film.mkv starts at 16384 (after readme and the pad): piece 1 is its
	// first 16 KiB.
	ft.setHave(true, 1, 2)
	if got := get(film, XattrProgress); got != "32768/300000" {
		t.Errorf("film progress = %q, want 32768/300000", got)
	}
	if got := get(filepath.Join(dir, "video"), XattrProgress); got != "32768/305000" {
		t.Errorf("video dir progress = %q, want 32768/305000", got)
	}
	if got := get(dir, XattrProgress); got != "32768/376001" {
		t.Errorf("root progress = %q, want 32768/376001", got)
	}
	if _, err := unix.Getxattr(film, XattrInfoHash, make([]byte, 64)); !errors.Is(err, unix.ENODATA) {
		t.Errorf("infohash on a file: %v, want ENODATA", err)
	}
	buf := make([]byte, 256)
	n, err := unix.Listxattr(dir, buf)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	if !slices.Contains(names, XattrInfoHash) || !slices.Contains(names, XattrProgress) {
		t.Errorf("listxattr on the root = %q", names)
	}
}

func TestStatfs(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(dir, "video"), &st); err != nil {
		t.Fatal(err)
	}
	size := int64(st.Blocks) * st.Bsize
	if size < 376_001 || size >= 376_001+statfsBlock || st.Bavail != 0 || st.Files != 6 {
		t.Errorf("statfs: %d blocks of %d (%d bytes), %d available, %d files; want >= 376001 bytes, none free, 6 files",
			st.Blocks, st.Bsize, size, st.Bavail, st.Files)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("mount is not read-only in the kernel: flags %#x", st.Flags)
	}
}

func TestSingleFileTorrentAtRoot(t *testing.T) {
	ft := newFakeTorrent(t, "disk.iso", false, 32<<10, fakeFile{path: []string{"disk.iso"}, length: 100_000})
	ft.setAll()
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != "disk.iso" {
		t.Fatalf("root lists %v, %v; want just disk.iso", entries, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "disk.iso"))
	if err != nil || !bytes.Equal(b, ft.data) {
		t.Fatalf("reading disk.iso: %v", err)
	}
}
