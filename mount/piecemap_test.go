package mount

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

func TestEncodePieceMap(t *testing.T) {
	for _, tc := range []struct{ states, want string }{
		{"", ""},
		{"v", "v"},
		{"vvv.dd", "3v.2d"},
		{strings.Repeat("v", 1000) + "w" + strings.Repeat(".", 12), "1000vw12."},
		{"e.e.", "e.e."},
	} {
		if got := encodePieceMap([]byte(tc.states)); got != tc.want {
			t.Errorf("encodePieceMap(%q) = %q, want %q", tc.states, got, tc.want)
		}
		if c := countPieces([]byte(tc.states)); c.Verified != strings.Count(tc.states, "v") ||
			c.Missing != strings.Count(tc.states, ".") || c.Evicted != strings.Count(tc.states, "e") {
			t.Errorf("countPieces(%q) = %+v", tc.states, c)
		}
	}
}

func TestStreamPath(t *testing.T) {
	if got, want := StreamPath("ABCDEF", []string{"dir one", "a?b#c.mkv"}), "/t/abcdef/dir%20one/a%3Fb%23c.mkv"; got != want {
		t.Errorf("StreamPath = %q, want %q", got, want)
	}
}

// TestStatusPieceMaps downloads a two-file torrent from another session
// and checks what the status says of its pieces and files: first all
// missing, then all verified, each file with its stream URL.
func TestStatusPieceMaps(t *testing.T) {
	const pl = 16 << 10
	src := t.TempDir()
	content := filepath.Join(src, "album")
	files := map[string]int{"a side.bin": 5*pl + 100, "b.bin": 3 * pl}
	if err := os.MkdirAll(content, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, n := range files {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		if err := os.WriteFile(filepath.Join(content, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mi, err := metainfo.Create(ctx, content, metainfo.CreateOptions{PieceLength: pl})
	if err != nil {
		t.Fatal(err)
	}
	n := mi.Info.NumPieces()

	// The seed finds the data in its kept cache directory and proves it.
	seedDir := t.TempDir()
	if err := os.CopyFS(filepath.Join(seedDir, mi.InfoHash.String(), "data", "album"), os.DirFS(content)); err != nil {
		t.Fatal(err)
	}
	seed := newSession(t, seedDir, true)
	if _, err := seed.Add(ctx, "album", mi); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the seed proving its data", func() bool {
		return seed.Status().Torrents[0].PieceCounts.Verified == n
	})

	leech, err := New(Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: t.TempDir(),
		Peers: []string{seed.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer leech.Close(context.Background())
	if _, err := leech.Add(ctx, "album", mi); err != nil {
		t.Fatal(err)
	}
	ts := leech.Status().Torrents[0]
	if ts.PieceMap != strconv.Itoa(n)+"." || ts.PieceCounts.Missing != n || ts.PieceLength != pl {
		t.Errorf("before any read: piece map %q, counts %+v, piece length %d; want %d missing", ts.PieceMap, ts.PieceCounts, ts.PieceLength, n)
	}
	leech.mu.Lock()
	tor := leech.torrents["album"].tor
	leech.mu.Unlock()
	tor.SetDownloadAll(true)
	testutil.Eventually(t, "the download", func() bool {
		return leech.Status().Torrents[0].PieceCounts.Verified == n
	})
	ts = leech.Status().Torrents[0]
	if ts.PieceMap != strconv.Itoa(n)+"v" {
		t.Errorf("after the download the piece map is %q", ts.PieceMap)
	}
	ih := mi.InfoHash.String()
	want := []FileStatus{
		{Path: "a side.bin", Length: 5*pl + 100, Verified: 5*pl + 100, FirstPiece: 0, PieceMap: "6v", URL: "/t/" + ih + "/a%20side.bin"},
		{Path: "b.bin", Length: 3 * pl, Verified: 3 * pl, FirstPiece: 5, PieceMap: "4v", URL: "/t/" + ih + "/b.bin"},
	}
	if len(ts.Files) != len(want) {
		t.Fatalf("files: %+v", ts.Files)
	}
	for i, w := range want {
		if ts.Files[i] != w {
			t.Errorf("file %d: %+v, want %+v", i, ts.Files[i], w)
		}
	}
}
