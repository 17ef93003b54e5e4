package fetch

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// rawPeer is the remote end of a connection, driven by the test through
// the wire codec.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	dec  *wire.Decoder
}

func dialRaw(t *testing.T, addr string, infoHash metainfo.Hash) (*rawPeer, wire.Handshake, error) {
	t.Helper()
	return dialRawWith(t, addr, infoHash, false)
}

// dialRawExtended is dialRaw announcing the extension protocol.
func dialRawExtended(t *testing.T, addr string, infoHash metainfo.Hash) (*rawPeer, wire.Handshake, error) {
	t.Helper()
	return dialRawWith(t, addr, infoHash, true)
}

func dialRawWith(t *testing.T, addr string, infoHash metainfo.Hash, extended bool) (*rawPeer, wire.Handshake, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	h := wire.Handshake{InfoHash: infoHash}
	h.Reserved.SetFast(true)
	h.Reserved.SetExtended(extended)
	copy(h.PeerID[:], "-XX0001-rawpeer12345")
	if err := wire.WriteHandshake(conn, h); err != nil {
		t.Fatal(err)
	}
	got, err := wire.ReadHandshake(conn)
	return &rawPeer{t: t, conn: conn, dec: wire.NewDecoder(conn, 64<<10)}, got, err
}

func (r *rawPeer) send(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next message other than keep-alives, extended
// handshakes and haves.
func (r *rawPeer) next() wire.Message {
	r.t.Helper()
	for {
		var m wire.Message
		if err := r.dec.Decode(&m); err != nil {
			r.t.Fatalf("reading from torfs: %v", err)
		}
		switch m.ID {
		case wire.KeepAlive, wire.Extended, wire.Have:
			continue
		}
		if m.ID == wire.Piece {
			m.Block = bytes.Clone(m.Block)
		}
		return m
	}
}

func TestIncomingUnknownTorrentIsClosed(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	_, _, err := dialRaw(t, c.Addr().String(), metainfo.Hash{1, 2, 3})
	if err == nil {
		t.Fatal("torfs answered a handshake for a torrent it does not have")
	}
}

func TestServeRequests(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, data)
	addTorrent(t, c, mi, st, TorrentOptions{})
	r, hs, err := dialRaw(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if !hs.Reserved.Fast() || !hs.Reserved.Extended() || hs.InfoHash != mi.InfoHash {
		t.Fatalf("handshake %+v", hs)
	}
	if m := r.next(); m.ID != wire.HaveAll {
		t.Fatalf("first message %v, want have all", &m)
	}
	// Choked: a request is rejected.
	r.send(wire.AppendRequest(nil, wire.Request, 1, 0, wire.BlockSize))
	if m := r.next(); m.ID != wire.Reject || m.Index != 1 {
		t.Fatalf("got %v, want reject of piece 1", &m)
	}
	r.send(wire.AppendSimple(nil, wire.Interested))
	if m := r.next(); m.ID != wire.Unchoke {
		t.Fatalf("got %v, want unchoke", &m)
	}
	r.send(wire.AppendRequest(nil, wire.Request, 2, wire.BlockSize, wire.BlockSize))
	m := r.next()
	off := mi.Info.PieceOffset(2) + wire.BlockSize
	if m.ID != wire.Piece || m.Index != 2 || m.Begin != wire.BlockSize || !bytes.Equal(m.Block, data[off:off+wire.BlockSize]) {
		t.Fatalf("got %v, want the block", &m)
	}
	// An evicted piece is no longer served.
	st.evict(3)
	r.send(wire.AppendRequest(nil, wire.Request, 3, 0, wire.BlockSize))
	if m := r.next(); m.ID != wire.Reject || m.Index != 3 {
		t.Fatalf("got %v, want reject of the evicted piece", &m)
	}
	// A request outside the torrent drops the connection.
	r.send(wire.AppendRequest(nil, wire.Request, 99, 0, wire.BlockSize))
	var mm wire.Message
	for {
		if err := r.dec.Decode(&mm); err != nil {
			if err != io.EOF && !isClosed(err) {
				t.Fatalf("after a bad request: %v", err)
			}
			break
		}
	}
}

func isClosed(err error) bool {
	ne, ok := err.(net.Error)
	return !ok || !ne.Timeout()
}

// TestLiarIsBanned: a peer that claims every piece and answers with
// garbage is banned; the download completes from an honest seed.
func TestLiarIsBanned(t *testing.T) {
	mi, data := testTorrent(t, 2<<20, 64<<10)
	// The honest seed is slower than the liar, so the liar's blocks are
	// stored, not wasted.
	honest := newTestClient(t, Config{UploadRate: 4 << 20})
	addTorrent(t, honest, mi, newMemStorage(&mi.Info, data), TorrentOptions{})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns, sent atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := wire.ReadHandshake(conn); err != nil {
					return // an encrypted handshake: the liar speaks plaintext only
				}
				conns.Add(1)
				h := wire.Handshake{InfoHash: mi.InfoHash}
				h.Reserved.SetFast(true)
				copy(h.PeerID[:], "-LI0001-liarliarliar")
				wire.WriteHandshake(conn, h)
				conn.Write(wire.AppendSimple(wire.AppendSimple(nil, wire.HaveAll), wire.Unchoke))
				dec := wire.NewDecoder(conn, 64<<10)
				rng := rand.New(rand.NewPCG(7, 7))
				junk := make([]byte, wire.BlockSize)
				var m wire.Message
				for dec.Decode(&m) == nil {
					if m.ID == wire.Request && m.Length <= wire.BlockSize {
						for i := range junk {
							junk[i] = byte(rng.Uint32())
						}
						if _, err := conn.Write(wire.AppendPiece(nil, m.Index, m.Begin, junk[:m.Length])); err != nil {
							return
						}
						sent.Add(1)
					}
				}
			}()
		}
	}()

	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{ln.Addr().String(), honest.Addr().String()}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	if sent.Load() == 0 {
		t.Fatal("the liar sent nothing: the test proves nothing")
	}
	tor.mu.Lock()
	banned := tor.bans.banned(ln.Addr().String())
	tor.mu.Unlock()
	if !banned {
		t.Fatal("the liar is not banned")
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("liar connected %d times", n)
	}
}
