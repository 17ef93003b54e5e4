package fetch

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// sync makes sure torfs has handled everything r sent so far: a request
// while choked is rejected (fast extension), and messages are handled in
// order.
func (r *rawPeer) sync() {
	r.t.Helper()
	r.send(wire.AppendRequest(nil, wire.Request, 0, 0, wire.BlockSize))
	for {
		m := r.next()
		if m.ID == wire.Reject && m.Index == 0 && m.Begin == 0 {
			return
		}
		if m.ID != wire.Interested && m.ID != wire.NotInterested && m.ID != wire.Unchoke && m.ID != wire.HaveNone && m.ID != wire.Bitfield {
			r.t.Fatalf("got %v while waiting for the reject of a probe", &m)
		}
	}
}

// availability returns tor's per-piece counts and its number of seeds.
func availability(tor *Torrent) ([]int32, int) {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	return slices.Clone(tor.avail), tor.seeds
}

func bitsOf(n int, pieces ...int) wire.Bits {
	b := wire.NewBits(n)
	for _, i := range pieces {
		b.Set(i)
	}
	return b
}

// TestBitfieldAfterHaves: a bitfield, have-all or have-none after have
// messages (aria2 sends them so) keeps the connection; the pieces are the
// union of what the peer said, each counted once, and leave the counts
// with the peer.
func TestBitfieldAfterHaves(t *testing.T) {
	mi, _ := testTorrent(t, 6*64<<10, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	r, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want []int32, wantSeeds int) {
		t.Helper()
		r.sync()
		got, seeds := availability(tor)
		if !slices.Equal(got, want) || seeds != wantSeeds {
			t.Fatalf("after %s: availability %v with %d seeds, want %v with %d", step, got, seeds, want, wantSeeds)
		}
	}
	r.send(wire.AppendIndex(nil, wire.Have, 4))
	r.send(wire.AppendIndex(nil, wire.Have, 1))
	check("two haves", []int32{0, 1, 0, 0, 1, 0}, 0)
	r.send(wire.AppendBitfield(nil, bitsOf(6, 0, 1)))
	check("a bitfield after them", []int32{1, 1, 0, 0, 1, 0}, 0)
	r.send(wire.AppendSimple(nil, wire.HaveNone))
	check("have-none after them", []int32{1, 1, 0, 0, 1, 0}, 0)
	r.send(wire.AppendBitfield(nil, bitsOf(6, 0, 2, 4)))
	r.send(wire.AppendIndex(nil, wire.Have, 2))
	check("a second bitfield", []int32{1, 1, 1, 0, 1, 0}, 0)
	r.send(wire.AppendIndex(nil, wire.Have, 3))
	r.send(wire.AppendBitfield(nil, bitsOf(6, 5)))
	check("haves and a bitfield that complete the torrent", []int32{0, 0, 0, 0, 0, 0}, 1)
	r.send(wire.AppendSimple(nil, wire.HaveAll))
	r.send(wire.AppendIndex(nil, wire.Have, 2))
	check("have-all from a seed", []int32{0, 0, 0, 0, 0, 0}, 1)
	leave(r, tor)
	if got, seeds := availability(tor); !slices.Equal(got, make([]int32, 6)) || seeds != 0 {
		t.Fatalf("after the peer left: availability %v with %d seeds", got, seeds)
	}

	// Have-all after haves makes a seed of the peer.
	r, _, err = dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	r.send(wire.AppendIndex(nil, wire.Have, 0))
	r.send(wire.AppendIndex(nil, wire.Have, 3))
	check("two haves on a new connection", []int32{1, 0, 0, 1, 0, 0}, 0)
	r.send(wire.AppendSimple(nil, wire.HaveAll))
	check("have-all after haves", []int32{0, 0, 0, 0, 0, 0}, 1)
	leave(r, tor)
	if got, seeds := availability(tor); !slices.Equal(got, make([]int32, 6)) || seeds != 0 {
		t.Fatalf("after the seed left: availability %v with %d seeds", got, seeds)
	}
}

// TestServeAfterLateBitfield is aria2 downloading from a torfs seed: it
// sends a have, then its bitfield, and is served.
func TestServeAfterLateBitfield(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	r, _, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if m := r.next(); m.ID != wire.HaveAll {
		t.Fatalf("first message %v, want have all", &m)
	}
	r.send(wire.AppendIndex(nil, wire.Have, 0))
	r.send(wire.AppendBitfield(nil, bitsOf(4, 0, 1)))
	r.send(wire.AppendSimple(nil, wire.Interested))
	if m := r.next(); m.ID != wire.Unchoke {
		t.Fatalf("got %v, want unchoke", &m)
	}
	r.send(wire.AppendRequest(nil, wire.Request, 3, 0, wire.BlockSize))
	r.conn.SetDeadline(time.Now().Add(10 * time.Second))
	m := r.next()
	off := mi.Info.PieceOffset(3)
	if m.ID != wire.Piece || m.Index != 3 || !bytes.Equal(m.Block, data[off:off+wire.BlockSize]) {
		t.Fatalf("got %v, want the block", &m)
	}
}
