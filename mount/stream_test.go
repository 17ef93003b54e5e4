package mount

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/testutil"
)

// TestStreamServesAWatchedDirectory: Stream, without FUSE, serves the
// torrents of a directory over HTTP, follows a .torrent file added
// later, and returns once its context ends.
func TestStreamServesAWatchedDirectory(t *testing.T) {
	mi := sampleTorrent(t)
	b, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	cfg := Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: t.TempDir()}
	up := make(chan Mounted, 1)
	var streamErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		streamErr = Stream(ctx, cfg, Target{Source: src}, func(m Mounted) { up <- m })
	}()
	// Also when the test fails: Stream is done with the cache directory
	// before t.TempDir removes it.
	t.Cleanup(func() { cancel(); <-done })
	var m Mounted
	select {
	case m = <-up:
	case <-done:
		t.Fatalf("Stream: %v", streamErr)
	case <-time.After(20 * time.Second):
		t.Fatal("Stream did not start")
	}
	if !strings.HasPrefix(m.HTTPURL, "http://127.0.0.1:") || len(m.Torrents) != 0 {
		t.Fatalf("started: %+v", m)
	}
	if err := os.WriteFile(filepath.Join(src, "music.torrent"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	file := m.HTTPURL + "/t/" + mi.InfoHash.String() + "/docs/a.txt"
	testutil.Eventually(t, "the new torrent served", func() bool {
		resp, err := http.Head(file)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && resp.ContentLength == 40000
	})
	if code, body := get(t, m.HTTPURL+"/"); code != http.StatusOK || !strings.Contains(body, "/t/"+mi.InfoHash.String()+"/b.bin") {
		t.Errorf("index: %d\n%s", code, body)
	}
	cancel()
	select {
	case <-done:
		if streamErr != nil {
			t.Fatalf("Stream returned %v", streamErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Stream did not return after its context ended")
	}
	if _, err := http.Head(file); err == nil {
		t.Error("the server still answers after Stream returned")
	}
}
