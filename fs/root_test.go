package fs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRootAddsAndRemovesTorrentsWhileMounted(t *testing.T) {
	first := multiFileTorrent(t)
	second := newFakeTorrent(t, "disk.iso", false, 32<<10, fakeFile{path: []string{"disk.iso"}, length: 100_000})
	second.setAll()
	root := NewRoot(RootOptions{StatusURL: "http://127.0.0.1:1/"})
	if err := root.Add("sample", first, Options{}); err != nil {
		t.Fatal(err)
	}
	_, dir := mountForTest(t, root)

	names := func() []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range entries {
			ns = append(ns, e.Name())
		}
		return ns
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(dir, XattrStatus, buf); err != nil || string(buf[:n]) != "http://127.0.0.1:1/" {
		t.Errorf("status xattr on the root: %q, %v", buf[:n], err)
	}
	if got := names(); !slices.Equal(got, []string{"sample"}) {
		t.Fatalf("root lists %v, want [sample]", got)
	}
	// Looked up before it exists, so the kernel may cache its absence.
	if _, err := os.Stat(filepath.Join(dir, "iso")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat before adding: %v", err)
	}
	if err := root.Add("iso", second, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := root.Add("iso", second, Options{}); err == nil {
		t.Error("adding a second torrent under the same name succeeded")
	}
	b, err := os.ReadFile(filepath.Join(dir, "iso", "disk.iso"))
	if err != nil || !bytes.Equal(b, second.data) {
		t.Fatalf("reading the added torrent: %v", err)
	}
	if got := names(); !slices.Equal(got, []string{"iso", "sample"}) {
		t.Fatalf("root lists %v after adding, want [iso sample]", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sample", "video", "film.mkv")); err != nil || fi.Size() != 300_000 {
		t.Fatalf("the first torrent's tree: %v", err)
	}

	if err := root.Remove("sample"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sample", "readme.txt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat of a removed torrent's file: %v, want not found", err)
	}
	if got := names(); !slices.Equal(got, []string{"iso"}) {
		t.Fatalf("root lists %v after removing, want [iso]", got)
	}
	if err := root.Remove("sample"); err == nil {
		t.Error("removing twice succeeded")
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if err := root.Add(bad, second, Options{}); err == nil {
			t.Errorf("Add(%q) succeeded", bad)
		}
	}
}
