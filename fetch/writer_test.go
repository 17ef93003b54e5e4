package fetch

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gatedStorage holds every WriteBlock until the gate opens, and records
// how the calls for each piece came.
type gatedStorage struct {
	*memStorage
	gate    chan struct{} // closed: writes proceed
	entered chan struct{} // one send per WriteBlock call, before the gate

	mu      sync.Mutex
	busy    map[int]bool  // pieces with a WriteBlock in progress
	next    map[int]int64 // per piece: the end of what was written, in order
	overlap string        // the first two calls for one piece at once
	order   string        // the first write that did not extend its piece
}

func newGatedStorage(s *memStorage) *gatedStorage {
	return &gatedStorage{
		memStorage: s,
		gate:       make(chan struct{}),
		entered:    make(chan struct{}, 1024),
		busy:       map[int]bool{},
		next:       map[int]int64{},
	}
}

func (g *gatedStorage) WriteBlock(p int, off int64, b []byte) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	g.mu.Lock()
	if g.busy[p] && g.overlap == "" {
		g.overlap = fmt.Sprintf("piece %d written by two calls at once", p)
	}
	g.busy[p] = true
	if off != g.next[p] && g.order == "" {
		g.order = fmt.Sprintf("piece %d: write at %d after [0, %d)", p, off, g.next[p])
	}
	g.next[p] = max(g.next[p], off+int64(len(b)))
	g.mu.Unlock()
	err := g.memStorage.WriteBlock(p, off, b)
	g.mu.Lock()
	g.busy[p] = false
	g.mu.Unlock()
	return err
}

// received sums what tor's connections have taken off their sockets.
func received(tor *Torrent) int64 {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	var n int64
	for p := range tor.peers {
		n += p.downBytes.Load()
	}
	return n
}

// TestWriterBackPressure: while storage is stuck, a connection takes in
// no more than the writer's buffers hold (not the whole torrent); once
// storage moves again, the download completes intact. With one seeder,
// each piece is handed to storage by one call at a time, in order from
// its start, which is what lets the cache hash it as it is written.
func TestWriterBackPressure(t *testing.T) {
	mi, data := testTorrent(t, 32<<20, 1<<20) // several runs per piece; 4x the buffers
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	leech := newTestClient(t, Config{})
	st := newGatedStorage(newMemStorage(&mi.Info, nil))
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(st.gate) // let the writers return so Close can finish
		}
	})
	tor := addTorrent(t, leech, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})

	select {
	case <-st.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("no block reached storage")
	}
	// Wait for the connection to stop taking in data: it must, before
	// the torrent is through, since nothing is stored.
	last, still := int64(-1), 0
	for deadline := time.Now().Add(30 * time.Second); still < 5; {
		if time.Now().After(deadline) {
			t.Fatalf("the connection kept receiving while storage was stuck: %d bytes", received(tor))
		}
		time.Sleep(50 * time.Millisecond)
		if n := received(tor); n == last {
			still++
		} else {
			last, still = n, 0
		}
	}
	// Held: every buffer, plus the block that found none free.
	if limit := int64(writeBuffers*maxCoalesce + maxCoalesce); last > limit {
		t.Fatalf("%d bytes received while storage was stuck; the writer's buffers hold %d", last, limit)
	}

	close(st.gate)
	opened = true
	waitComplete(t, tor, 60*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.overlap != "" {
		t.Fatal(st.overlap)
	}
	if st.order != "" {
		t.Fatal(st.order)
	}
}
