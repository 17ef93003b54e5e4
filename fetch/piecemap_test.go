package fetch

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
)

// TestPieceStates follows pieces through the states the map shows:
// missing, wanted by a stalled read, verified, evicted.
func TestPieceStates(t *testing.T) {
	const pl = 64 << 10
	mi, data := testTorrent(t, 16*pl, pl)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{})
	if got := string(tor.PieceStates(nil)); got != strings.Repeat(".", 16) {
		t.Fatalf("a new torrent's map is %q, want every piece missing", got)
	}

	// No peer: a read of piece 5 waits, and stalls.
	r := tor.NewReader(ReaderOptions{StallTimeout: 2 * time.Second, Readahead: 2 * pl})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, make([]byte, 10), 5*pl)
		done <- err
	}()
	testutil.Eventually(t, "piece 5 wanted", func() bool { return tor.PieceStates(nil)[5] == PieceWanted })
	if err := <-done; !errors.Is(err, ErrStalled) {
		t.Fatalf("read without peers: %v, want ErrStalled", err)
	}
	if s := tor.Stats(); s.Stalls != 1 || s.Readers != 1 {
		t.Errorf("Stats: %d stalls, %d readers; want 1 and 1", s.Stalls, s.Readers)
	}

	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	tor.AddPeers(seed.Addr().String())
	if got := readAll(t, ctx, r, mi.Info.Length, 256<<10); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	waitComplete(t, tor, 10*time.Second)
	buf := make([]byte, 0, 32)
	if got := string(tor.PieceStates(buf[:3])); got != "\x00\x00\x00"+strings.Repeat("v", 16) {
		t.Fatalf("after the download the map is %q, want the 3 bytes given, then every piece verified", got)
	}
	st.evict(3)
	tor.mu.Lock()
	tor.takeEvictions()
	tor.mu.Unlock()
	if got := string(tor.PieceStates(nil)); got != "vvve"+strings.Repeat("v", 12) {
		t.Fatalf("after evicting piece 3 the map is %q", got)
	}
}
