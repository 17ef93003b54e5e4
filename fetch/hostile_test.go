package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// Peers choose every number they send. These tests send the ones that
// overflow arithmetic (2^31, 2^32-1, sums that wrap, 2^49 * 16 KiB) and
// check that the engine rejects them and keeps serving.

func TestMetadataPieceRange(t *testing.T) {
	const size = 2*wire.MetadataPieceSize + 100
	for _, tc := range []struct {
		piece      int
		start, end int
		ok         bool
	}{
		{0, 0, wire.MetadataPieceSize, true},
		{2, 2 * wire.MetadataPieceSize, size, true},
		{3, 0, 0, false},
		{-1, 0, 0, false},
		{1 << 49, 0, 0, false}, // 2^49 * 2^14 wraps to a negative int
		{1 << 50, 0, 0, false}, // ... and to 0
		{math.MaxInt, 0, 0, false},
		{math.MaxInt / wire.MetadataPieceSize, 0, 0, false},
	} {
		start, end, ok := metadataPiece(tc.piece, size)
		if start != tc.start || end != tc.end || ok != tc.ok {
			t.Errorf("metadataPiece(%d, %d) = %d, %d, %v; want %d, %d, %v", tc.piece, size, start, end, ok, tc.start, tc.end, tc.ok)
		}
	}
	if _, _, ok := metadataPiece(0, 0); ok {
		t.Error("piece 0 of empty metadata is valid")
	}
}

// TestMetadataRequestHugePiece: a ut_metadata request for piece 2^49 used
// to panic the process; it is rejected and the peer is still served.
func TestMetadataRequestHugePiece(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	mi.InfoBytes = bytes.Repeat([]byte("d4:info"), 3000) // two pieces
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	r, _, err := dialRawExtended(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	mine := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}}
	b, _ := mine.Encode()
	r.send(wire.AppendExtended(nil, 0, b))
	for _, piece := range []int{1 << 49, 1 << 50, math.MaxInt64, 1<<31 - 1, 1 << 32, 0} {
		req, _ := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: piece}, nil)
		r.send(wire.AppendExtended(nil, extMetadataID, req))
		var m wire.Message
		for m.ID != wire.Extended || m.ExtID != 3 {
			if err := r.dec.Decode(&m); err != nil {
				t.Fatalf("after a request for metadata piece %d: %v", piece, err)
			}
		}
		msg, part, err := wire.ParseMetadata(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		want := wire.MetadataReject
		if piece == 0 {
			want = wire.MetadataData
		}
		if msg.Type != want || msg.Piece != piece {
			t.Fatalf("request for piece %d answered with %+v", piece, msg)
		}
		if piece == 0 && !bytes.Equal(part, mi.InfoBytes[:wire.MetadataPieceSize]) {
			t.Fatal("metadata piece 0 differs")
		}
	}
}

func TestValidRequestHostileNumbers(t *testing.T) {
	mi, data := testTorrent(t, 1<<20+1000, 256<<10) // 5 pieces, the last of 1000 bytes
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	const bs = wire.BlockSize
	for _, tc := range []struct {
		r  request
		ok bool
	}{
		{request{0, 0, bs}, true},
		{request{3, 256<<10 - bs, bs}, true},
		{request{4, 0, 1000}, true},
		{request{4, 0, 1001}, false},
		{request{4, 1000, 1}, false},
		{request{5, 0, bs}, false},
		{request{1 << 31, 0, bs}, false},
		{request{math.MaxUint32, 0, bs}, false},
		{request{0, math.MaxUint32, bs}, false},          // begin+length wraps to bs-1
		{request{0, math.MaxUint32 - bs + 1, bs}, false}, // begin+length wraps to 0
		{request{0, 0, math.MaxUint32}, false},
		{request{0, bs, math.MaxUint32 - bs + 1}, false}, // wraps to 0
		{request{0, 0, 0}, false},
		{request{0, 0, maxRequestLen + 1}, false},
	} {
		if got := tor.validRequest(tc.r); got != tc.ok {
			t.Errorf("validRequest(%+v) = %v, want %v", tc.r, got, tc.ok)
		}
	}
}

// TestHostileMessagesOverTheWire sends each message type with numbers
// that overflow: the ones that name bytes we would act on drop the peer,
// the others are ignored, and the same connection (or, after a drop, a
// new one) is still served.
func TestHostileMessagesOverTheWire(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	const top = math.MaxUint32
	for _, tc := range []struct {
		name string
		msg  []byte
		drop bool
	}{
		{"have 2^32-1", wire.AppendIndex(nil, wire.Have, top), true},
		{"have 2^31", wire.AppendIndex(nil, wire.Have, 1<<31), true},
		{"request 2^31", wire.AppendRequest(nil, wire.Request, 1<<31, 0, wire.BlockSize), true},
		{"request wrapping begin+length", wire.AppendRequest(nil, wire.Request, 0, top-wire.BlockSize+1, wire.BlockSize), true},
		{"request length 2^32-1", wire.AppendRequest(nil, wire.Request, 0, 0, top), true},
		{"reject 2^32-1", wire.AppendRequest(nil, wire.Reject, top, top, top), false},
		{"cancel 2^32-1", wire.AppendRequest(nil, wire.Cancel, top, top, top), false},
		{"suggest 2^32-1", wire.AppendIndex(nil, wire.Suggest, top), false},
		{"allowed fast 2^32-1", wire.AppendIndex(nil, wire.AllowedFast, top), false},
		{"allowed fast 2^31", wire.AppendIndex(nil, wire.AllowedFast, 1<<31), false},
		{"piece 2^32-1 at 2^32-16", wire.AppendPiece(nil, top, top-15, make([]byte, 16)), false},
		{"piece 0 at 2^32-16", wire.AppendPiece(nil, 0, top-15, make([]byte, 16)), false},
		{"piece 2^31", wire.AppendPiece(nil, 1<<31, 0, make([]byte, wire.BlockSize)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Raw peers share a peer id: one at a time.
			waitPeers(t, tor, 0, 10*time.Second)
			r, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
			if err != nil {
				t.Fatal(err)
			}
			if m := r.next(); m.ID != wire.HaveAll {
				t.Fatalf("first message %v, want have all", &m)
			}
			r.send(tc.msg)
			if tc.drop {
				waitClosed(t, r)
				waitPeers(t, tor, 0, 10*time.Second)
				r, _, err = dialRaw(t, c.Addr().String(), mi.InfoHash)
				if err != nil {
					t.Fatal(err)
				}
				r.next() // have all
			}
			r.send(wire.AppendSimple(nil, wire.Interested))
			if m := r.next(); m.ID != wire.Unchoke {
				t.Fatalf("got %v, want unchoke", &m)
			}
			r.send(wire.AppendRequest(nil, wire.Request, 1, 0, wire.BlockSize))
			off := mi.Info.PieceOffset(1)
			if m := r.next(); m.ID != wire.Piece || m.Index != 1 || !bytes.Equal(m.Block, data[off:off+wire.BlockSize]) {
				t.Fatalf("got %v, want block 1+0", &m)
			}
			r.conn.Close()
		})
	}
}

// waitClosed reads until torfs closes the connection.
func waitClosed(t *testing.T, r *rawPeer) {
	t.Helper()
	var m wire.Message
	for {
		err := r.dec.Decode(&m)
		if err == nil {
			continue
		}
		if err != io.EOF && !isClosed(err) {
			t.Fatalf("torfs kept the connection: %v", err)
		}
		return
	}
}

// pipePeer is a peer on one end of a pipe, with no loops running: the test
// calls its handlers directly.
func pipePeer(t *testing.T, tor *Torrent, fast bool) *peer {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	var hs wire.Handshake
	hs.Reserved.SetFast(fast)
	return newPeer(tor, a, hs, "")
}

// TestRequestFloodIsBounded: requests beyond reqq are rejected, the
// rejects a peer has not read are bounded, and a peer that keeps sending
// requests without reading the answers is dropped.
func TestRequestFloodIsBounded(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	req := &wire.Message{ID: wire.Request, Index: 1, Begin: 0, Length: wire.BlockSize}
	for _, tc := range []struct {
		name      string
		fast      bool
		unchoked  bool
		wantFlood bool
	}{
		{"fast, choked", true, false, true},
		{"fast, unchoked", true, true, true},
		{"BEP 3, unchoked", false, true, true},
		// A choked BEP 3 peer's requests are dropped without a trace.
		{"BEP 3, choked", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
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

// TestFloodingNonReaderIsDropped: over the wire, a peer that pipelines
// requests by the hundred thousand and never reads is dropped, and an
// honest peer next to it is served.
func TestFloodingNonReaderIsDropped(t *testing.T) {
	mi, data := testTorrent(t, 4<<20, 256<<10)
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
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
// nothing), and an honest leecher that comes after them completes.
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

	leech := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	start := time.Now()
	got := addTorrent(t, leech, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})
	waitComplete(t, got, 60*time.Second)
	t.Logf("the honest leecher completed in %v next to %d stuck peers", time.Since(start), stuck)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	tor.mu.Lock()
	losses := 0
	for p := range tor.peers {
		losses += p.slotLosses
	}
	tor.mu.Unlock()
	if losses == 0 {
		t.Fatal("no stuck peer lost its slot")
	}
}

// TestResolveHostileMetadataSizes: peers claiming metadata sizes that
// overflow 32-bit arithmetic or a piece count are connected but never
// asked for a piece.
func TestResolveHostileMetadataSizes(t *testing.T) {
	mi, _ := magnetTorrent(t, 3000)
	var fakes []*fakePeer
	var peers []string
	for _, size := range []int{1 << 31, 1<<32 - 1, 1 << 49 * wire.MetadataPieceSize / 2, math.MaxInt64} {
		f := startFakePeer(t, mi.InfoHash, size, func(int) []byte { return make([]byte, wire.MetadataPieceSize) })
		fakes = append(fakes, f)
		peers = append(peers, f.addr)
	}
	c := newTestClient(t, Config{})
	_, _, _, err := resolve(t, c, &metainfo.Magnet{InfoHash: mi.InfoHash, Peers: peers}, TorrentOptions{}, 2*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("resolving from liars alone: %v, want a deadline error", err)
	}
	for _, f := range fakes {
		if f.conns.Load() == 0 {
			t.Errorf("the peer claiming %d bytes of metadata was never connected: the test proves nothing", f.size)
		}
		if n := f.requests.Load(); n != 0 {
			t.Errorf("%d requests to a peer claiming %d bytes of metadata, want none", n, f.size)
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

// TestMetadataFloodWithoutReading: each ut_metadata request asks for a
// 16 KiB answer; a peer that sends 5000 of them (80 MiB of answers) and
// reads nothing is dropped at once, well before the write timeout.
func TestMetadataFloodWithoutReading(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	mi.InfoBytes = bytes.Repeat([]byte("d4:info"), 3000) // two pieces
	c := newTestClient(t, Config{})
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
	// fails. Keep-alives until then, for at most 10 s (the write timeout
	// is 30 s).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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
			t.Fatal("a peer with 80 MiB of metadata answers unread is still connected after 10 s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
