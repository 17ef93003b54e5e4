package mount

import (
	"context"
	"crypto/sha1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/metainfo"
)

// tinyTorrent is a one-piece torrent nobody seeds.
func tinyTorrent() *metainfo.MetaInfo {
	data := []byte("hello, torfs")
	h := sha1.Sum(data)
	mi := &metainfo.MetaInfo{Info: metainfo.Info{
		Name: "hello.txt", PieceLength: 16 << 10, Pieces: h[:], Length: int64(len(data)),
		Files: []metainfo.File{{Path: []string{"hello.txt"}, Length: int64(len(data))}},
	}}
	mi.InfoHash = sha1.Sum([]byte("tiny"))
	return mi
}

func newSession(t *testing.T, cacheDir string, keep bool) *Session {
	t.Helper()
	s, err := New(Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: cacheDir, Keep: keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

func TestCacheDirectoryIsLockedAndRemovedUnlessKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	mi := tinyTorrent()
	a, b := newSession(t, dir, false), newSession(t, dir, false)
	ta, err := a.Add(ctx, "hello", mi)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(ctx, "hello", mi); err == nil || !strings.Contains(err.Error(), "in use by another torfs process") {
		t.Fatalf("a second session on the same cache: %v, want an 'in use' error", err)
	}
	if _, err := a.Add(ctx, "hello", mi); err == nil {
		t.Error("adding the same name twice succeeded")
	}
	if _, err := a.Add(ctx, "copy", mi); err == nil || !strings.Contains(err.Error(), `already shown as "hello"`) {
		t.Errorf("adding the same torrent under another name: %v", err)
	}
	if st := a.Status(); len(st.Torrents) != 1 || st.Torrents[0].Files[0].Path != "hello.txt" || st.Torrents[0].Verified != 0 {
		t.Errorf("status = %+v", st)
	}
	if err := a.Remove(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ta.Dir); !os.IsNotExist(err) {
		t.Errorf("cache directory after Remove without Keep: %v, want it gone", err)
	}

	// Once the first let go, another session may use the cache; with Keep
	// it stays on disk.
	kept := newSession(t, dir, true)
	tk, err := kept.Add(ctx, "hello", mi)
	if err != nil {
		t.Fatal(err)
	}
	if err := kept.Remove(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tk.Dir, "state")); err != nil {
		t.Errorf("kept cache: %v", err)
	}
}
