package fetch

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// offlineTorrent is a session without network or goroutines, for testing
// the picker and the choker directly.
func offlineTorrent(t *testing.T, pieces int, pieceLen int64, downloadAll bool) *Torrent {
	t.Helper()
	info := &metainfo.Info{Name: "x", PieceLength: pieceLen, Pieces: make([]byte, 20*pieces), Length: int64(pieces) * pieceLen}
	return &Torrent{
		c:           &Client{},
		info:        info,
		st:          newMemStorage(info, nil),
		log:         slog.New(slog.DiscardHandler),
		state:       make([]uint8, pieces),
		avail:       make([]int32, pieces),
		active:      map[int]*activePiece{},
		peers:       map[*peer]struct{}{},
		readers:     map[*Reader]struct{}{},
		downloadAll: downloadAll,
		rng:         rand.New(rand.NewPCG(1, 2)),
		bans:        newBans(),
		failed:      map[int][]hashJob{},
	}
}

func offlinePeer(t *Torrent, seed bool) *peer {
	p := &peer{
		t: t, bits: wire.NewBits(len(t.state)), seed: seed,
		amChoking: true, reqs: map[uint64]int64{},
		desired: 1000, reqq: 1000, wake: make(chan struct{}, 1),
	}
	t.peers[p] = struct{}{}
	return p
}

// requested decodes the requests queued for p, in order.
func requested(t *testing.T, p *peer) []wire.Message {
	t.Helper()
	var out []wire.Message
	d := wire.NewDecoder(bytes.NewReader(p.out), 0)
	for {
		var m wire.Message
		if d.Decode(&m) != nil {
			return out
		}
		if m.ID == wire.Request {
			out = append(out, m)
		}
	}
}

func TestPickerPriorities(t *testing.T) {
	tor := offlineTorrent(t, 20, 2*wire.BlockSize, true)
	r := &Reader{t: tor, reads: map[uint64][2]int{1: {12, 12}}, ahead: [2]int{15, 16}}
	tor.readers[r] = struct{}{}
	p := offlinePeer(tor, true)
	p.amInterested = true
	p.desired = 8
	tor.fill(p)
	var got []uint32
	for _, m := range requested(t, p) {
		got = append(got, m.Index)
	}
	// Urgent piece 12, then readahead 15 and 16 in offset order, then
	// normal pieces.
	want := []uint32{12, 12, 15, 15, 16, 16}
	if len(got) != 8 || !equalPrefix(got, want) {
		t.Fatalf("requested pieces %v, want %v then two normal ones", got, want)
	}
}

func equalPrefix(a, b []uint32) bool {
	if len(a) < len(b) {
		return false
	}
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPickerRarestFirstAndPartialFirst(t *testing.T) {
	tor := offlineTorrent(t, 10, 4*wire.BlockSize, true)
	for i := range tor.avail {
		tor.avail[i] = 5
	}
	tor.avail[6] = 1 // the rarest
	p := offlinePeer(tor, true)
	p.amInterested = true
	p.desired = 2
	tor.fill(p)
	reqs := requested(t, p)
	if len(reqs) != 2 || reqs[0].Index != 6 || reqs[1].Index != 6 {
		t.Fatalf("first requests %v, want two blocks of piece 6", reqs)
	}
	// Another peer finishes piece 6 before starting a new piece.
	q := offlinePeer(tor, true)
	q.amInterested = true
	q.desired = 3
	tor.fill(q)
	reqs = requested(t, q)
	if len(reqs) != 3 || reqs[0].Index != 6 || reqs[1].Index != 6 || reqs[2].Index == 6 {
		t.Fatalf("second peer requested %v, want the rest of piece 6 first", reqs)
	}
}

func TestEndgameDuplicatesLastBlocks(t *testing.T) {
	tor := offlineTorrent(t, 1, 2*wire.BlockSize, true)
	p := offlinePeer(tor, true)
	p.amInterested = true
	tor.fill(p)
	if n := len(requested(t, p)); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
	q := offlinePeer(tor, true)
	q.amInterested = true
	tor.fill(q)
	if n := len(requested(t, q)); n != 2 {
		t.Fatalf("endgame: %d duplicate requests, want 2", n)
	}
	// A third peer gets nothing: one duplicate per block is enough.
	r := offlinePeer(tor, true)
	r.amInterested = true
	tor.fill(r)
	if n := len(requested(t, r)); n != 0 {
		t.Fatalf("%d requests from a third peer, want 0", n)
	}
}

func TestChoker(t *testing.T) {
	tor := offlineTorrent(t, 4, wire.BlockSize, true)
	var peers []*peer
	for i := range 8 {
		p := offlinePeer(tor, false)
		p.peerInterested = true
		p.downRate = float64(i * 1000) // peers[7] is the fastest uploader to us
		p.upRate = float64((8 - i) * 1000)
		peers = append(peers, p)
	}
	tor.rechoke(true)
	unchoked := 0
	for i, p := range peers {
		if !p.amChoking {
			unchoked++
		} else if i >= 4 {
			t.Errorf("peer %d (among the 4 fastest) is choked", i)
		}
	}
	if unchoked != unchokeSlots+1 {
		t.Fatalf("%d unchoked, want %d + 1 optimistic", unchoked, unchokeSlots)
	}
	// Seeding ranks by our upload rate to them.
	tor.haveCount = len(tor.state)
	tor.rechoke(false)
	for i := range 4 {
		if peers[i].amChoking {
			t.Errorf("seeding: peer %d (among the 4 we upload to fastest) is choked", i)
		}
	}
}

// TestReapAbandoned: when storage is full, partial pieces no reader wants
// any more are discarded; wanted ones and ones with data on the way stay.
func TestReapAbandoned(t *testing.T) {
	tor := offlineTorrent(t, 10, 2*wire.BlockSize, false)
	tor.st = newMemStorage(tor.info, nil)
	r := &Reader{t: tor, reads: map[uint64][2]int{1: {5, 5}}, ahead: emptyRange}
	tor.readers[r] = struct{}{}
	abandoned := tor.activate(2)
	abandoned.blocks[0].state = blockDone
	wanted := tor.activate(5)
	inFlight := tor.activate(7)
	inFlight.blocks[1].state = blockRequested
	inFlight.blocks[1].reqs = 1
	tor.reapAbandoned()
	if tor.active[2] != nil || tor.state[2] != pieceMissing {
		t.Fatal("abandoned piece 2 kept")
	}
	if tor.active[5] != wanted || tor.active[7] != inFlight {
		t.Fatal("a wanted or busy piece was discarded")
	}
}
