package fetch

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// A peer that does not read what we send, or asks for more than it may,
// must not make us hold more than a bounded amount for it.

// pipePeer is a peer on one end of a pipe, with no loops running: the test
// calls its handlers directly.
func pipePeer(t *testing.T, tor *Torrent, fast bool) *peer {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	var hs wire.Handshake
	hs.Reserved.SetFast(fast)
	return newPeer(tor, a, hs, netip.AddrPort{}, TransportTCP)
}

// TestRequestFloodIsBounded: requests beyond reqq are rejected, the
// rejects a peer has not read are bounded, and a peer that keeps sending
// requests without reading the answers is dropped.
func TestRequestFloodIsBounded(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	// A torrent that has nothing yet, on another client.
	empty := addTorrent(t, newTestClient(t, Config{}), mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	req := &wire.Message{ID: wire.Request, Index: 1, Begin: 0, Length: wire.BlockSize}
	for _, tc := range []struct {
		name      string
		fast      bool
		unchoked  bool
		missing   bool // we do not have the piece
		wantFlood bool
	}{
		{"fast, choked", true, false, false, true},
		{"fast, unchoked", true, true, false, true},
		{"fast, unchoked, piece missing", true, true, true, true},
		// Beyond reqq a BEP 3 peer gets no answer: still owed.
		{"BEP 3, unchoked", false, true, false, true},
		// Requests we drop for a reason the peer knows (a choke, the
		// piece is not in our bitfield) are not owed.
		{"BEP 3, choked", false, false, false, false},
		{"BEP 3, unchoked, piece missing", false, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tor := tor
			if tc.missing {
				tor = empty
			}
			p := pipePeer(t, tor, tc.fast)
			tor.mu.Lock()
			defer tor.mu.Unlock()
			p.amChoking = !tc.unchoked
			var err error
			n := 0
			for ; n < 100*maxOwed && err == nil; n++ {
				err = p.onRequest(req)
			}
			p.wmu.Lock()
			queued, out := len(p.uploads), len(p.out)
			p.wmu.Unlock()
			if queued > maxUploadQueue {
				t.Errorf("%d requests queued, over the cap of %d", queued, maxUploadQueue)
			}
			if max := maxOwed * 17; out > max {
				t.Errorf("%d bytes of output queued for a peer that reads nothing, over %d", out, max)
			}
			if !tc.wantFlood {
				if err != nil {
					t.Fatalf("after %d requests: %v", n, err)
				}
				return
			}
			if !errors.Is(err, errFlood) {
				t.Fatalf("after %d requests: %v, want a flood error", n, err)
			}
			if n != maxOwed+1 {
				t.Errorf("dropped after %d requests, want %d", n, maxOwed+1)
			}
		})
	}
}

// TestCancelAnswersAndForgets: with the fast extension a cancelled request
// is rejected; without, it is forgotten. Either way it is no longer owed.
func TestCancelAnswersAndForgets(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	for _, fast := range []bool{true, false} {
		p := pipePeer(t, tor, fast)
		m := &wire.Message{ID: wire.Request, Index: 2, Begin: wire.BlockSize, Length: wire.BlockSize}
		tor.mu.Lock()
		p.amChoking = false
		err := p.onRequest(m)
		tor.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		p.onCancel(m)
		p.wmu.Lock()
		owed, answers, queued := p.owed, p.outAnswers, len(p.uploads)
		p.wmu.Unlock()
		if queued != 0 {
			t.Errorf("fast %v: the cancelled request is still queued", fast)
		}
		if fast && (owed != 1 || answers != 1) {
			t.Errorf("fast: owed %d, answers queued %d; want the reject queued", owed, answers)
		}
		if !fast && (owed != 0 || answers != 0) {
			t.Errorf("BEP 3: owed %d, answers queued %d; want it forgotten", owed, answers)
		}
	}
}

// TestDroppedUploadsAreNotOwed: a BEP 3 peer's request for a piece evicted
// since is dropped without an answer; it no longer counts towards the
// flood limit.
func TestDroppedUploadsAreNotOwed(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, data)
	tor := addTorrent(t, c, mi, st, TorrentOptions{})
	p := pipePeer(t, tor, false)
	tor.wg.Add(1)
	go p.writeLoop()
	t.Cleanup(func() { p.close(nil) })
	st.evict(3)
	tor.mu.Lock()
	p.amChoking = false
	for b := range uint32(16) {
		if err := p.onRequest(&wire.Message{ID: wire.Request, Index: 3, Begin: b * wire.BlockSize, Length: wire.BlockSize}); err != nil {
			t.Fatal(err)
		}
	}
	tor.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		p.wmu.Lock()
		owed := p.owed
		p.wmu.Unlock()
		if owed == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d dropped requests still owed", owed)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestFloodingNonReaderIsDropped: over the wire, a peer that pipelines
// requests by the hundred thousand and never reads is dropped, and an
// honest peer next to it is served.
func TestFloodingNonReaderIsDropped(t *testing.T) {
	mi, data := testTorrent(t, 4<<20, 256<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	flood, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	flood.conn.SetDeadline(time.Now().Add(30 * time.Second))
	var batch []byte
	batch = wire.AppendSimple(batch, wire.Interested)
	for i := range 10000 {
		batch = wire.AppendRequest(batch, wire.Request, uint32(i%16), uint32(i/16%16)*wire.BlockSize, wire.BlockSize)
	}
	sent := 0
	var werr error
	for sent < 300*10000 {
		if _, werr = flood.conn.Write(batch); werr != nil {
			break
		}
		sent += 10000
	}
	if werr == nil {
		t.Fatalf("torfs took %d requests from a peer that read nothing", sent)
	}
	var ne net.Error
	if errors.As(werr, &ne) && ne.Timeout() {
		t.Fatalf("torfs stopped reading the flood but kept the connection: %v", werr)
	}
	t.Logf("dropped after at most %d requests: %v", sent, werr)
	waitPeers(t, tor, 0, 10*time.Second) // raw peers share a peer id

	r, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	r.next() // have all
	r.send(wire.AppendSimple(nil, wire.Interested))
	if m := r.next(); m.ID != wire.Unchoke {
		t.Fatalf("got %v, want unchoke", &m)
	}
	r.send(wire.AppendRequest(nil, wire.Request, 0, 0, wire.BlockSize))
	if m := r.next(); m.ID != wire.Piece || !bytes.Equal(m.Block, data[:wire.BlockSize]) {
		t.Fatalf("got %v, want block 0+0", &m)
	}
}

// TestMetadataFloodWithoutReading: each ut_metadata request asks for a
// 16 KiB answer; a peer that sends 5000 of them (80 MiB of answers) and
// reads nothing is dropped for what piles up, not by the write timeout
// (an hour here).
func TestMetadataFloodWithoutReading(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	mi.InfoBytes = bytes.Repeat([]byte("d4:info"), 3000) // two pieces
	c := newTestClient(t, Config{writeTimeout: time.Hour})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	r, _, err := dialRawExtended(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	mine := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}}
	b, _ := mine.Encode()
	r.send(wire.AppendExtended(nil, 0, b))
	req, _ := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: 0}, nil)
	var batch []byte
	for range 5000 {
		batch = wire.AppendExtended(batch, extMetadataID, req)
	}
	r.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.conn.Write(batch); err != nil {
		t.Logf("dropped while sending the requests: %v", err)
		return
	}
	// Dropped with our data unread, torfs resets the connection: a write
	// fails. Keep-alives until then.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		r.conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := r.conn.Write(wire.AppendKeepAlive(nil)); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("torfs stopped reading but kept the connection: %v", err)
			}
			t.Logf("dropped: %v", err)
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("a peer with 80 MiB of metadata answers unread is still connected after 30 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitPeers waits until the torrent has n connections.
func waitPeers(t *testing.T, tor *Torrent, n int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if got := len(tor.Stats().Peers); got == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections after %v, want %d", len(tor.Stats().Peers), d, n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestWriteTimeoutDropsNonReader: a peer that asks for blocks (within
// reqq) and stops reading is dropped once nothing drained for the write
// timeout.
func TestWriteTimeoutDropsNonReader(t *testing.T) {
	mi, data := testTorrent(t, 32<<20, 1<<20)
	c := newTestClient(t, Config{writeTimeout: time.Second, stallAfter: 200 * time.Millisecond})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	r, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	r.conn.SetDeadline(time.Now().Add(30 * time.Second))
	r.next() // have all
	r.send(wire.AppendSimple(nil, wire.Interested))
	if m := r.next(); m.ID != wire.Unchoke {
		t.Fatalf("got %v, want unchoke", &m)
	}
	waitPeers(t, tor, 1, 10*time.Second)
	// 32 MiB asked, far more than socket buffers hold; then silence.
	var batch []byte
	for i := range maxUploadQueue {
		batch = wire.AppendRequest(batch, wire.Request, uint32(i/64), uint32(i%64)*wire.BlockSize, wire.BlockSize)
	}
	r.send(batch)
	waitPeers(t, tor, 0, 20*time.Second)
}
