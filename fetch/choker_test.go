package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// The choker gives upload slots to peers that use them, not to peers
// that stopped reading or ask for nothing.

// TestWastesSlot: what makes the choker take a slot back.
func TestWastesSlot(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: time.Second, idleSlotAfter: time.Second})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	now := time.Now()
	long := now.Add(-time.Minute)
	for _, tc := range []struct {
		name   string
		setup  func(p *peer)
		wastes bool
	}{
		{"unchoked, asked nothing for a minute", func(p *peer) { p.amChoking, p.unchokedAt = false, long }, true},
		{"just unchoked", func(p *peer) { p.amChoking, p.unchokedAt = false, now }, false},
		{"unchoked, uploaded just now", func(p *peer) { p.amChoking, p.unchokedAt, p.lastUpAt = false, long, now }, false},
		{"unchoked, requested just now", func(p *peer) { p.amChoking, p.unchokedAt, p.lastReqAt = false, long, now }, false},
		{"unchoked, requests queued", func(p *peer) {
			p.amChoking, p.unchokedAt = false, long
			p.uploads = append(p.uploads, request{0, 0, wire.BlockSize})
		}, false},
		{"unchoked, a write draining", func(p *peer) {
			p.amChoking, p.unchokedAt = false, long
			p.writingSince.Store(now.UnixNano())
		}, false},
		{"unchoked, a write stalled", func(p *peer) {
			p.amChoking, p.unchokedAt = false, now
			p.writingSince.Store(long.UnixNano())
		}, true},
		{"choked, a write stalled", func(p *peer) { p.writingSince.Store(long.UnixNano()) }, true},
		{"choked", func(p *peer) {}, false},
		{"unchoked, not interested", func(p *peer) { p.amChoking, p.unchokedAt, p.peerInterested = false, long, false }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pipePeer(t, tor, true)
			p.peerInterested = true
			tc.setup(p)
			tor.mu.Lock()
			defer tor.mu.Unlock()
			if got := p.wastesSlot(now); got != tc.wastes {
				t.Errorf("wastesSlot = %v, want %v", got, tc.wastes)
			}
		})
	}
}

// TestRechokeTakesWastedSlots: the choker takes slots from peers that
// waste them and gives them to waiting peers, newest first.
func TestRechokeTakesWastedSlots(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: time.Second, idleSlotAfter: time.Second})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	now := time.Now()
	tor.mu.Lock()
	defer tor.mu.Unlock()
	var idle, waiting []*peer
	for i := range unchokeSlots + 1 {
		p := pipePeer(t, tor, true)
		p.peerInterested, p.amChoking, p.unchokedAt = true, false, now.Add(-time.Minute)
		p.connectedAt = now.Add(-time.Hour + time.Duration(i)*time.Second)
		tor.peers[p] = struct{}{}
		idle = append(idle, p)
	}
	for i := range unchokeSlots + 3 {
		p := pipePeer(t, tor, true)
		p.peerInterested = true
		p.connectedAt = now.Add(time.Duration(i-10) * time.Second)
		tor.peers[p] = struct{}{}
		waiting = append(waiting, p)
	}
	t.Cleanup(func() {
		tor.mu.Lock()
		for _, p := range append(idle, waiting...) {
			delete(tor.peers, p)
		}
		tor.mu.Unlock()
	})
	if !tor.slotWasted(now) {
		t.Fatal("slotWasted = false with every slot idle and peers waiting")
	}
	tor.rechoke(false)
	for _, p := range idle {
		if !p.amChoking || p.slotLosses != 1 {
			t.Errorf("an idle peer: choking %v, slot losses %d; want choked, 1", p.amChoking, p.slotLosses)
		}
	}
	// The newest waiting peers get the rate slots; the optimistic one
	// is any waiting peer.
	unchoked := 0
	for i, p := range waiting {
		if !p.amChoking {
			unchoked++
		}
		if i >= len(waiting)-unchokeSlots && p.amChoking {
			t.Errorf("waiting peer %d of %d (newest last) is still choked", i, len(waiting))
		}
	}
	if unchoked != unchokeSlots+1 {
		t.Errorf("%d waiting peers unchoked, want %d", unchoked, unchokeSlots+1)
	}
}

// dialStuck connects a peer that says it is interested, then never reads
// a byte; with ask it keeps requesting blocks as a pipelining client
// would. It runs until the test ends.
func dialStuck(t *testing.T, addr string, mi *metainfo.MetaInfo, n int, ask bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); conn.Close(); wg.Wait() })
	h := wire.Handshake{InfoHash: mi.InfoHash}
	h.Reserved.SetFast(true)
	copy(h.PeerID[:], fmt.Sprintf("-XX0001-stuck%07d", n))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteHandshake(conn, h); err != nil {
		t.Fatal(err)
	}
	if _, err := wire.ReadHandshake(conn); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Time{})
	if _, err := conn.Write(wire.AppendSimple(nil, wire.Interested)); err != nil {
		t.Fatal(err)
	}
	if !ask {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		np := uint32(mi.Info.NumPieces())
		for i := uint32(0); ; i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var b []byte
			for j := range uint32(16) {
				b = wire.AppendRequest(b, wire.Request, (i*16+j)/16%np, (i*16+j)%16*wire.BlockSize, wire.BlockSize)
			}
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := conn.Write(b); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue // torfs stopped reading us: fine
				}
				return // dropped
			}
		}
	}()
}

// TestStuckPeersLoseSlots: 20 interested peers that never read take every
// upload slot first; they lose them (their writes stall, or they ask for
// nothing), and an honest leecher that comes after that completes.
func TestStuckPeersLoseSlots(t *testing.T) {
	mi, data := testTorrent(t, 8<<20, 256<<10)
	seed := newTestClient(t, Config{stallAfter: 300 * time.Millisecond, idleSlotAfter: 300 * time.Millisecond})
	tor := addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	const stuck = 20
	for i := range stuck {
		dialStuck(t, seed.Addr().String(), mi, i, i%2 == 0)
	}
	waitPeers(t, tor, stuck, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for unchoked := 0; unchoked < unchokeSlots; {
		unchoked = 0
		for _, p := range tor.Stats().Peers {
			if !p.Choked {
				unchoked++
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d stuck peers unchoked, want %d", unchoked, unchokeSlots)
		case <-time.After(20 * time.Millisecond):
		}
	}

	for losses := 0; losses == 0; {
		tor.mu.Lock()
		for p := range tor.peers {
			losses += p.slotLosses
		}
		tor.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatal("no stuck peer lost its slot")
		case <-time.After(20 * time.Millisecond):
		}
	}

	leech := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	start := time.Now()
	got := addTorrent(t, leech, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})
	waitComplete(t, got, 60*time.Second)
	t.Logf("the honest leecher completed in %v next to %d stuck peers", time.Since(start), stuck)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
}

// TestWaitingPeerRecheck: a peer that finds every slot held by peers that
// use them is re-checked when the first of them could be found wasting
// its slot, not at the next choking round.
func TestWaitingPeerRecheck(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: time.Hour, idleSlotAfter: time.Hour})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	now := time.Now()
	tor.mu.Lock()
	defer tor.mu.Unlock()
	var peers []*peer
	add := func(setup func(p *peer)) *peer {
		p := pipePeer(t, tor, true)
		p.peerInterested, p.amChoking, p.unchokedAt = true, false, now.Add(-time.Minute)
		p.upRate = 1 << 20 // they use their slots: a newcomer ranks below
		setup(p)
		tor.peers[p] = struct{}{}
		peers = append(peers, p)
		return p
	}
	t.Cleanup(func() {
		tor.mu.Lock()
		for _, p := range peers {
			delete(tor.peers, p)
		}
		tor.mu.Unlock()
	})
	add(func(p *peer) { p.lastReqAt = now.Add(-time.Minute) })
	add(func(p *peer) { p.lastReqAt = now.Add(-2 * time.Minute) })
	add(func(p *peer) { p.writingSince.Store(now.Add(-3 * time.Minute).UnixNano()) })
	add(func(p *peer) { p.unchokedAt = now.Add(-30 * time.Second) })
	tor.optimistic = add(func(p *peer) { p.lastUpAt, p.upRate = now, 0 })
	add(func(p *peer) { p.amChoking, p.upRate = true, 0 }) // waits itself: no slot to lose
	if got := tor.nextWaste(now); got.IsZero() {
		t.Fatal("nextWaste = zero with every slot held")
	}
	newcomer := add(func(p *peer) { p.amChoking, p.upRate = true, 0 })
	// Every holder uses its slot for now: the newcomer waits.
	tor.maybeUnchoke(newcomer)
	if !newcomer.amChoking {
		t.Fatal("a newcomer took a slot from peers that use theirs")
	}
	// The holder that wrote nothing for 3 minutes is the first that
	// could stall.
	want := now.Add(-3*time.Minute + time.Hour)
	if got := tor.choker.recheckAt; !got.Equal(want) {
		t.Errorf("re-check armed for %v, want %v", got, want)
	}
	// A sooner one replaces it; a later one does not.
	tor.recheckAt(now.Add(time.Minute))
	tor.recheckAt(now.Add(2 * time.Minute))
	if got, want := tor.choker.recheckAt, now.Add(time.Minute); !got.Equal(want) {
		t.Errorf("re-check armed for %v, want %v", got, want)
	}
}

// TestNewcomerTakesSlotWithoutWaiting: a newly interested peer takes a
// slot at once from holders that have shown no rate yet, as the newest of
// equals; the holder it replaces has not wasted its slot.
func TestNewcomerTakesSlotWithoutWaiting(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: time.Hour, idleSlotAfter: time.Hour})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	now := time.Now()
	tor.mu.Lock()
	defer tor.mu.Unlock()
	var peers []*peer
	t.Cleanup(func() {
		tor.mu.Lock()
		for _, p := range peers {
			delete(tor.peers, p)
		}
		tor.mu.Unlock()
	})
	for i := range unchokeSlots + 1 {
		p := pipePeer(t, tor, true)
		p.peerInterested, p.amChoking, p.unchokedAt = true, false, now
		p.connectedAt = now.Add(time.Duration(i-10) * time.Second)
		tor.peers[p] = struct{}{}
		peers = append(peers, p)
	}
	newcomer := pipePeer(t, tor, true)
	newcomer.peerInterested, newcomer.connectedAt = true, now
	tor.peers[newcomer] = struct{}{}
	peers = append(peers, newcomer)
	tor.maybeUnchoke(newcomer)
	if newcomer.amChoking {
		t.Fatal("the newcomer waits behind holders that have shown no rate")
	}
	unchoked := 0
	for _, p := range peers {
		if !p.amChoking {
			unchoked++
		}
		if p.slotLosses != 0 {
			t.Errorf("a holder replaced by rank counts %d wasted slots", p.slotLosses)
		}
	}
	if unchoked != unchokeSlots+1 {
		t.Errorf("%d peers unchoked, want %d", unchoked, unchokeSlots+1)
	}
}
