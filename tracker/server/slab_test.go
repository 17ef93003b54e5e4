package server

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"github.com/torfs/torfs/tracker"
)

// The memory figures in the docs (and the benchmark) rest on these sizes.
func TestRecordSizes(t *testing.T) {
	if a, b := unsafe.Sizeof(peer4{}), unsafe.Sizeof(peer6{}); a != 28 || b != 40 {
		t.Fatalf("records are %d and %d bytes, want 28 and 40", a, b)
	}
	if s := unsafe.Sizeof(swarm{}); s > 48 {
		t.Fatalf("swarm is %d bytes", s)
	}
}

func TestPeerMetaAgeAcrossWrap(t *testing.T) {
	m := newMeta(true, metaSeenMax-1)
	if !m.seeder() || m.age(metaSeenMax+3) != 4 {
		t.Fatalf("seeder %v age %d, want true and 4", m.seeder(), m.age(metaSeenMax+3))
	}
	if newMeta(false, 5).seeder() {
		t.Fatal("leecher reads as seeder")
	}
}

// TestSlabReusesFreedBlocks: swarms that grow, shrink and die hand their
// blocks back, so churn does not map more memory.
func TestSlabReusesFreedBlocks(t *testing.T) {
	s := NewMemoryStore(time.Hour)
	defer s.Close()
	ctx := context.Background()
	h := hashOf(1)
	sh := s.shard(&h)
	churn := func() {
		for i := range 3000 {
			announce(t, s, h, i, v4(i), tracker.EventStarted, false, 0)
		}
		var res AnnounceResult
		if err := s.Announce(ctx, &PeerAnnounce{InfoHash: h, PeerID: idOf(5000), Addr: v4(5000), NumWant: 5000}, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Peers) != 3000 {
			t.Fatalf("%d peers, want 3000", len(res.Peers))
		}
		for i := range 3001 {
			id := i
			if i == 3000 {
				id = 5000
			}
			announce(t, s, h, id, v4(id), tracker.EventStopped, false, 0)
		}
	}
	churn()
	chunks := len(sh.slabs.v4.chunks)
	for range 5 {
		churn()
	}
	if got := len(sh.slabs.v4.chunks); got != chunks {
		t.Fatalf("churn grew the slab from %d to %d chunks", chunks, got)
	}
	if st, _ := s.Stats(ctx); st != (StoreStats{}) {
		t.Fatalf("stats after churn %+v", st)
	}
}

func TestClosedMemoryStoreRefuses(t *testing.T) {
	s := NewMemoryStore(time.Hour)
	announce(t, s, hashOf(1), 1, v4(1), tracker.EventStarted, false, 0)
	s.Close()
	var res AnnounceResult
	if err := s.Announce(context.Background(), &PeerAnnounce{InfoHash: hashOf(1), Addr: v4(1)}, &res); err == nil {
		t.Fatal("announce after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
