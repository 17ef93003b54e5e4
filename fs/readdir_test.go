package fs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// lsA lists dir with ls -a, as a user would.
func lsA(t *testing.T, dir string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ls", "-a1", dir).Output()
	if err != nil {
		t.Fatalf("ls -a %s: %v", dir, err)
	}
	return strings.Fields(string(out))
}

func TestListingHasDotEntries(t *testing.T) {
	ft := multiFileTorrent(t)
	_, dir := mountForTest(t, NewTorrentDir(ft, Options{}))
	if got, want := lsA(t, dir), []string{".", "..", "empty", "readme.txt", "tail.bin", "video"}; !slices.Equal(got, want) {
		t.Errorf("ls -a of the torrent = %q, want %q", got, want)
	}
	if got, want := lsA(t, filepath.Join(dir, "video")), []string{".", "..", "extras", "film.mkv", "latest"}; !slices.Equal(got, want) {
		t.Errorf("ls -a of a subdirectory = %q, want %q", got, want)
	}

	r := NewRoot(RootOptions{})
	if err := r.Add("one", multiFileTorrent(t), Options{}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPending("two", NewPending(PendingOptions{})); err != nil {
		t.Fatal(err)
	}
	_, rdir := mountForTest(t, r)
	if got, want := lsA(t, rdir), []string{".", "..", "one", "two"}; !slices.Equal(got, want) {
		t.Errorf("ls -a of a multi-torrent root = %q, want %q", got, want)
	}
	if got, want := lsA(t, filepath.Join(rdir, "two")), []string{".", "..", ResolvingName}; !slices.Equal(got, want) {
		t.Errorf("ls -a of a pending torrent = %q, want %q", got, want)
	}
}

func TestTimesAreModTime(t *testing.T) {
	created := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	_, dir := mountForTest(t, NewTorrentDir(multiFileTorrent(t), Options{ModTime: created}))
	for _, p := range []string{"readme.txt", "video", "video/film.mkv"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(created) {
			t.Errorf("%s: mtime %v, want the torrent's creation date %v", p, fi.ModTime(), created)
		}
	}
}
