package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
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
