package fs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statusText is a Describe whose text the test changes.
type statusText struct {
	mu   sync.Mutex
	text string
}

func (s *statusText) set(t string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.text = t
}

func (s *statusText) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text
}

func lsNames(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("ls", "-A", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -A %s: %v: %s", dir, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func TestPendingShowsPlaceholderThenTree(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	text := &statusText{text: "resolving metadata for sample: 0 peers, 0 s\nmore detail\n"}
	p := NewPending(PendingOptions{InfoHash: ft.hash, Describe: text.get, StatusURL: "http://127.0.0.1:1/"})
	_, dir := mountForTest(t, p)
	placeholder := filepath.Join(dir, ResolvingName)

	if got := lsNames(t, dir); got != ResolvingName {
		t.Fatalf("ls while resolving = %q, want only %s", got, ResolvingName)
	}
	if b, err := os.ReadFile(placeholder); err != nil || string(b) != text.get() {
		t.Fatalf("placeholder = %q, %v; want %q", b, err, text.get())
	}
	if getxattr(t, dir, XattrState) != "resolving metadata for sample: 0 peers, 0 s" {
		t.Errorf("state xattr = %q", getxattr(t, dir, XattrState))
	}
	if getxattr(t, dir, XattrInfoHash) != ft.hash.String() || getxattr(t, dir, XattrProgress) != "0/0" {
		t.Errorf("infohash, progress while resolving = %q, %q", getxattr(t, dir, XattrInfoHash), getxattr(t, dir, XattrProgress))
	}
	if err := os.WriteFile(placeholder, []byte("x"), 0o644); err == nil {
		t.Error("writing the placeholder succeeded")
	}
	// Looked up before the tree exists: the kernel caches the absence.
	if _, err := os.Stat(filepath.Join(dir, "readme.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a file before the tree: %v", err)
	}

	// The text changes; a stat and a read see the new one, longer than
	// the size the kernel saw before.
	text.set("resolving metadata for sample: 3 peers, 1 connected, 2/5 pieces, 12 s\nlast error: connection refused by 127.0.0.1:1\n")
	// The kernel keeps the placeholder's attributes for the shortest time
	// it can, one or two clock ticks (at most 20 ms); past that a stat
	// asks again.
	time.Sleep(50 * time.Millisecond)
	if fi, err := os.Stat(placeholder); err != nil || fi.Size() != int64(len(text.get())) {
		t.Errorf("stat of the placeholder: %v, %v; want size %d", fi, err, len(text.get()))
	}
	out, err := exec.Command("cat", placeholder).Output()
	if err != nil || string(out) != text.get() {
		t.Fatalf("cat placeholder = %q, %v; want %q", out, err, text.get())
	}
	// One open file rereading from the start sees the change too.
	f, err := os.Open(placeholder)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text.set("resolving metadata for sample: 4 peers\n")
	buf := make([]byte, 4096)
	if n, err := f.ReadAt(buf, 0); string(buf[:n]) != text.get() {
		t.Errorf("pread(0) of an open placeholder = %q, %v", buf[:n], err)
	}

	if err := p.Show(ft, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Show(ft, Options{}); err == nil {
		t.Error("a second Show succeeded")
	}
	// No remount, no waiting out a timeout: the kernel was told, so the
	// name it had found absent is there, before any listing refreshes it.
	if fi, err := os.Stat(filepath.Join(dir, "readme.txt")); err != nil || fi.Size() != 1000 {
		t.Fatalf("stat readme.txt after Show: %v, %v", fi, err)
	}
	if got, want := lsNames(t, dir), "empty readme.txt tail.bin video"; got != want {
		t.Fatalf("ls after Show = %q, want %q", got, want)
	}
	if _, err := os.Stat(placeholder); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat of the placeholder after Show: %v, want not found", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "readme.txt"))
	if err != nil || !bytes.Equal(b, ft.fileData(0)) {
		t.Fatalf("reading readme.txt after Show: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "video", "film.mkv")); err != nil || fi.Size() != 300_000 {
		t.Fatalf("stat video/film.mkv: %v, %v", fi, err)
	}
	if getxattr(t, dir, XattrState) != StateReady || getxattr(t, dir, XattrStatus) != "http://127.0.0.1:1/" {
		t.Errorf("state, status after Show = %q, %q", getxattr(t, dir, XattrState), getxattr(t, dir, XattrStatus))
	}
	if got := getxattr(t, dir, XattrProgress); got != "376001/376001" {
		t.Errorf("progress after Show = %q", got)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Files != 6 {
		t.Errorf("statfs after Show: %+v, %v; want 6 files", st, err)
	}
}

func TestPendingShownBeforeMount(t *testing.T) {
	ft := multiFileTorrent(t)
	p := NewPending(PendingOptions{InfoHash: ft.hash})
	if err := p.Show(ft, Options{}); err != nil {
		t.Fatal(err)
	}
	_, dir := mountForTest(t, p)
	if got, want := lsNames(t, dir), "empty readme.txt tail.bin video"; got != want {
		t.Fatalf("ls = %q, want %q", got, want)
	}
}

func TestPendingUnmountsWhileResolving(t *testing.T) {
	p := NewPending(PendingOptions{Describe: func() string { return "resolving metadata\n" }})
	dir := t.TempDir()
	srv, err := Mount(dir, p, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Unmount(context.Background()) })
	if _, err := os.ReadFile(filepath.Join(dir, ResolvingName)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Unmount(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the server still runs after Unmount")
	}
	if mountType(dir) != "" {
		t.Errorf("%s is still mounted", dir)
	}
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

func TestRootShowsPendingTorrent(t *testing.T) {
	ft := multiFileTorrent(t)
	ft.setAll()
	root := NewRoot(RootOptions{})
	_, dir := mountForTest(t, root)
	p := NewPending(PendingOptions{InfoHash: ft.hash, Describe: func() string { return "resolving metadata for sample\n" }})
	if err := root.AddPending("sample", p); err != nil {
		t.Fatal(err)
	}
	if err := root.AddPending("sample", NewPending(PendingOptions{})); err == nil {
		t.Error("a second directory under the same name was accepted")
	}
	sub := filepath.Join(dir, "sample")
	if got := lsNames(t, sub); got != ResolvingName {
		t.Fatalf("ls of the pending directory = %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(sub, ResolvingName)); err != nil || string(b) != "resolving metadata for sample\n" {
		t.Fatalf("placeholder = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(sub, "readme.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat before Show: %v", err)
	}
	if err := p.Show(ft, Options{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "readme.txt")); err != nil || !bytes.Equal(b, ft.fileData(0)) {
		t.Fatalf("reading after Show: %v", err)
	}
	if got, want := lsNames(t, sub), "empty readme.txt tail.bin video"; got != want {
		t.Fatalf("ls after Show = %q, want %q", got, want)
	}
	if got := getxattr(t, dir, XattrProgress); got != "376001/376001" {
		t.Errorf("root progress = %q", got)
	}
	if err := root.Remove("sample"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sub); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat after Remove: %v", err)
	}
}
