package integration

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/torfs/torfs/integration/harness"
)

// serveTorrent serves the .torrent file at path over HTTP on loopback
// and returns its URL.
func serveTorrent(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/t/"+filepath.Base(path) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-bittorrent")
		_, _ = w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/t/" + filepath.Base(path)
}

// TestGetAndMountTorrentURL: torfs get and torfs mount take the http://
// URL of a .torrent file, and say what is wrong with a URL that serves
// none.
func TestGetAndMountTorrentURL(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	t.Parallel()
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	src := t.TempDir()
	spec := harness.MixedTree(pl)
	torrent, seed := seedWith(t, src, "tree", spec, pl)
	url := serveTorrent(t, torrent)

	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), url)
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), filepath.Join(out, "tree"))

	mnt := t.TempDir()
	cacheDir := t.TempDir()
	mountTorfs(t, bin, url, mnt, "--peer", seed.Addr(), "--listen", "127.0.0.1:0", "--cache-dir", cacheDir)
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), mnt)

	bad := harness.RunTorfsStatus(t, bin, "get", "-o", t.TempDir(), "--peer", seed.Addr(), url+".missing")
	if bad.Code != 1 || !strings.Contains(bad.Stderr, "404 Not Found") {
		t.Errorf("get of a missing URL: %v", bad)
	}
}
