package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
)

// testTorrent returns the encoded .torrent of a file named name holding
// "torfs" repeats times, and its info.
func testTorrent(t *testing.T, name string, repeats int) ([]byte, *metainfo.MetaInfo) {
	t.Helper()
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, bytes.Repeat([]byte("torfs"), repeats), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mi, err := metainfo.Create(ctx, src, metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return enc, mi
}

func TestFetchTorrent(t *testing.T) {
	enc, mi := testTorrent(t, "data.bin", 10000)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.torrent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-bittorrent")
		_, _ = w.Write(enc)
	})
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>not a torrent</html>"))
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 17 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	got, err := loadTorrent(ctx, srv.URL+"/ok.torrent")
	if err != nil {
		t.Fatal(err)
	}
	if got.InfoHash != mi.InfoHash {
		t.Errorf("info-hash %s, want %s", got.InfoHash, mi.InfoHash)
	}
	for _, c := range []struct{ path, want string }{
		{"/missing", "404 Not Found"},
		{"/page", "is not a .torrent file (text/html)"},
		{"/huge", "too large for a .torrent file"},
	} {
		_, err := loadTorrent(ctx, srv.URL+c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.path, err, c.want)
		}
	}

	// A mount gets a file: the fetched torrent saved by its info-hash.
	dir := t.TempDir()
	path, err := torrentFile(ctx, srv.URL+"/ok.torrent", dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, mi.InfoHash.String()+".torrent"); path != want {
		t.Errorf("saved as %s, want %s", path, want)
	}
	if saved, err := metainfo.Load(path); err != nil || saved.InfoHash != mi.InfoHash {
		t.Errorf("the saved torrent: %v, %v", saved, err)
	}
	if path, err := torrentFile(ctx, "local.torrent", dir); err != nil || path != "local.torrent" {
		t.Errorf("a path: %q, %v; want it unchanged", path, err)
	}
}

func TestIsTorrentURL(t *testing.T) {
	for s, want := range map[string]bool{
		"http://h/x.torrent": true, "HTTPS://h/x": true, "x.torrent": false,
		"magnet:?xt=urn:btih:00": false, "ftp://h/x": false, "./http://x": false,
	} {
		if got := isTorrentURL(s); got != want {
			t.Errorf("isTorrentURL(%q) = %v, want %v", s, got, want)
		}
	}
}
