package mount

import (
	"context"
	"crypto/sha1"
	"log/slog"
	"strings"
	"testing"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// TestSmallCacheWarnsAtTheDefaultLevel: a cache budget smaller than the
// torrent is said without -v, since every re-read downloads again; a
// budget that holds it says nothing.
func TestSmallCacheWarnsAtTheDefaultLevel(t *testing.T) {
	const pieces, plen = 16, 16 << 10
	mi := &metainfo.MetaInfo{Info: metainfo.Info{
		Name: "big.bin", PieceLength: plen, Pieces: make([]byte, 20*pieces), Length: pieces * plen,
		Files: []metainfo.File{{Path: []string{"big.bin"}, Length: pieces * plen}},
	}}
	mi.InfoHash = sha1.Sum([]byte("small cache"))
	for _, tc := range []struct {
		budget int64
		warn   bool
	}{{8 * plen, true}, {pieces * plen, false}} {
		var log testutil.Buffer
		s, err := New(Config{
			Fetch:    fetch.Config{ListenAddr: "127.0.0.1:0"},
			CacheDir: t.TempDir(), CacheSize: tc.budget,
			Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Add(context.Background(), "big", mi); err != nil {
			t.Fatal(err)
		}
		_ = s.Close(context.Background())
		if got := strings.Contains(log.String(), "holds 128.0 KiB of its 256.0 KiB"); got != tc.warn {
			t.Errorf("budget %d: warned %v, want %v; log:\n%s", tc.budget, got, tc.warn, log.String())
		}
	}
}
