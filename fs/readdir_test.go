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

	"golang.org/x/sys/unix"
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

// TestStatfsReportsTheCacheBudget: df shows the cache's budget as the
// size and what it has left as free; without a known cache, the
// torrent's size, full.
func TestStatfsReportsTheCacheBudget(t *testing.T) {
	space := func() (used, budget int64) { return 3 << 20, 10 << 20 }
	_, dir := mountForTest(t, NewTorrentDir(multiFileTorrent(t), Options{Space: space}))
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if size, free := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize; size != 10<<20 || free != 7<<20 {
		t.Errorf("statfs: size %d, free %d; want the budget %d and %d free", size, free, 10<<20, 7<<20)
	}

	r := NewRoot(RootOptions{})
	unlimited := func() (used, budget int64) { return 0, 0 }
	if err := r.Add("a", multiFileTorrent(t), Options{Space: space}); err != nil {
		t.Fatal(err)
	}
	ft := multiFileTorrent(t)
	if err := r.Add("b", ft, Options{Space: unlimited}); err != nil {
		t.Fatal(err)
	}
	_, rdir := mountForTest(t, r)
	if err := unix.Statfs(rdir, &st); err != nil {
		t.Fatal(err)
	}
	bytes, _ := NewTorrentDir(ft, Options{}).size()
	wantSize := (10<<20 + bytes + statfsBlock - 1) / statfsBlock * statfsBlock
	if size, free := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize; size != wantSize || free < 7<<20 {
		t.Errorf("statfs of two torrents: size %d, free %d; want %d and at least %d free", size, free, wantSize, 7<<20)
	}
}

// TestStatfsReportsTheSharedBudget: in a mount of several torrents that
// share one budget (RootOptions.Space), df shows that budget once, not the
// sum of each torrent's view of it.
func TestStatfsReportsTheSharedBudget(t *testing.T) {
	shared := func() (used, budget int64) { return 5 << 20, 32 << 20 }
	r := NewRoot(RootOptions{Space: shared})
	for _, name := range []string{"a", "b", "c"} {
		if err := r.Add(name, multiFileTorrent(t), Options{Space: shared}); err != nil {
			t.Fatal(err)
		}
	}
	_, dir := mountForTest(t, r)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if size, free := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize; size != 32<<20 || free != 27<<20 {
		t.Errorf("statfs: size %d, free %d; want the shared budget %d and %d free", size, free, 32<<20, 27<<20)
	}
}
