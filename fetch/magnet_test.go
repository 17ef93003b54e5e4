package fetch

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
	"github.com/zeebo/bencode"
)

// magnetTorrent builds a torrent whose info dictionary spans several
// ut_metadata pieces (pieces of 1 KiB, so the data stays small).
func magnetTorrent(t *testing.T, numPieces int) (*metainfo.MetaInfo, []byte) {
	t.Helper()
	const pieceLen = 1024
	length := int64(numPieces)*pieceLen - 100
	data := make([]byte, length)
	rng := rand.New(rand.NewPCG(uint64(numPieces), 7))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var pieces []byte
	for off := int64(0); off < length; off += pieceLen {
		h := sha1.Sum(data[off:min(off+pieceLen, length)])
		pieces = append(pieces, h[:]...)
	}
	info, err := bencode.EncodeBytes(map[string]any{
		"length": length, "name": "magnet.bin", "piece length": pieceLen, "pieces": string(pieces),
	})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.FromInfo(info, &metainfo.Magnet{InfoHash: sha1.Sum(info)})
	if err != nil {
		t.Fatal(err)
	}
	return mi, data
}

// seeder starts a torfs Client seeding mi on loopback; it serves the
// metadata.
func seeder(t *testing.T, mi *metainfo.MetaInfo, data []byte) string {
	t.Helper()
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	return c.Addr().String()
}

func resolve(t *testing.T, c *Client, m *metainfo.Magnet, opts TorrentOptions, d time.Duration) (*metainfo.MetaInfo, []string, []ResolveStatus, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var log []ResolveStatus
	mi, peers, err := c.Resolve(ctx, m, opts, func(s ResolveStatus) { log = append(log, s) })
	return mi, peers, log, err
}

func TestResolveFromSeeders(t *testing.T) {
	mi, data := magnetTorrent(t, 3000) // 60000 bytes of pieces: 4 metadata pieces
	if n := (len(mi.InfoBytes) + wire.MetadataPieceSize - 1) / wire.MetadataPieceSize; n != 4 {
		t.Fatalf("test torrent has %d metadata pieces, want 4", n)
	}
	a, b := seeder(t, mi, data), seeder(t, mi, data)
	m := &metainfo.Magnet{InfoHash: mi.InfoHash, Peers: []string{a}, Trackers: []string{"http://127.0.0.1:1/announce"}, WebSeeds: []string{"http://127.0.0.1:1/ws"}}
	c := newTestClient(t, Config{})
	got, peers, log, err := resolve(t, c, m, TorrentOptions{Peers: []string{b}}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.InfoBytes, mi.InfoBytes) || got.InfoHash != mi.InfoHash || got.Info.Name != "magnet.bin" || got.Info.Length != mi.Info.Length {
		t.Fatalf("resolved %+v", got.Info)
	}
	if !slices.Equal(got.URLList, m.WebSeeds) || len(got.AnnounceList) != 1 || got.AnnounceList[0][0] != m.Trackers[0] {
		t.Fatalf("trackers %v, web seeds %v: want the magnet's", got.AnnounceList, got.URLList)
	}
	if !slices.Contains(peers, a) || !slices.Contains(peers, b) {
		t.Fatalf("returned peers %v, want %s and %s", peers, a, b)
	}
	last := log[len(log)-1]
	if last.Total != 4 || last.Have != 4 || last.Peers != 2 {
		t.Fatalf("last status %+v, want 4 of 4 pieces from 2 peers", last)
	}
	// The resolved torrent downloads like a .torrent's.
	st := newMemStorage(&got.Info, nil)
	tor := addTorrent(t, c, got, st, TorrentOptions{DownloadAll: true, Peers: peers})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

// fakePeer is a lying or unhelpful metadata peer.
type fakePeer struct {
	addr     string
	size     int                    // metadata_size it claims
	answer   func(piece int) []byte // nil = reject every request
	conns    atomic.Int32           // connections that sent a plaintext handshake
	requests atomic.Int32
}

func startFakePeer(t *testing.T, infoHash metainfo.Hash, size int, answer func(int) []byte) *fakePeer {
	t.Helper()
	f := &fakePeer{size: size, answer: answer}
	f.addr = serveLoopback(t, func(conn net.Conn) { f.serve(conn, infoHash) })
	return f
}

// serveLoopback listens on a loopback port and runs serve on each
// connection accepted, on a goroutine of its own, until the test ends:
// then it closes the listener and the connections and waits for the
// goroutines. It returns the address listened on.
func serveLoopback(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() { serve(conn) })
		}
	})
	return ln.Addr().String()
}

func (f *fakePeer) serve(conn net.Conn, infoHash metainfo.Hash) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := wire.ReadHandshake(conn); err != nil {
		return // an encrypted handshake (this peer speaks plaintext only)
	}
	f.conns.Add(1)
	h := wire.Handshake{InfoHash: infoHash}
	h.Reserved.SetExtended(true)
	copy(h.PeerID[:], "-XX0001-fakepeer1234")
	wire.WriteHandshake(conn, h)
	const myID = 7
	eh := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: myID}, MetadataSize: f.size}
	b, _ := eh.Encode()
	conn.Write(wire.AppendExtended(nil, 0, b))
	dec := wire.NewDecoder(conn, 64<<10)
	theirID := 0
	for {
		var m wire.Message
		if err := dec.Decode(&m); err != nil {
			return
		}
		if m.ID != wire.Extended {
			continue
		}
		if m.ExtID == 0 {
			if h, err := wire.ParseExtendedHandshake(m.Payload); err == nil {
				theirID = h.M[wire.ExtMetadata]
			}
			continue
		}
		msg, _, err := wire.ParseMetadata(m.Payload)
		if err != nil || m.ExtID != myID || msg.Type != wire.MetadataRequest || theirID == 0 {
			return
		}
		f.requests.Add(1)
		reply := wire.MetadataMsg{Type: wire.MetadataReject, Piece: msg.Piece}
		var data []byte
		if f.answer != nil {
			reply.Type, reply.TotalSize, data = wire.MetadataData, f.size, f.answer(msg.Piece)
		}
		body, _ := wire.AppendMetadata(nil, reply, data)
		if _, err := conn.Write(wire.AppendExtended(nil, uint8(theirID), body)); err != nil {
			return
		}
	}
}

// pieceOf returns piece i of b as ut_metadata cuts it.
func pieceOf(b []byte, i int) []byte {
	start := min(i*wire.MetadataPieceSize, len(b))
	return b[start:min(start+wire.MetadataPieceSize, len(b))]
}

func TestResolveSurvivesLiars(t *testing.T) {
	mi, data := magnetTorrent(t, 3000)
	bad := bytes.Clone(mi.InfoBytes)
	bad[len(bad)/2] ^= 1
	wrongData := startFakePeer(t, mi.InfoHash, len(bad), func(i int) []byte { return pieceOf(bad, i) })
	garbage := bytes.Repeat([]byte("x"), len(mi.InfoBytes)-20000)
	wrongSize := startFakePeer(t, mi.InfoHash, len(garbage), func(i int) []byte { return pieceOf(garbage, i) })
	rejects := startFakePeer(t, mi.InfoHash, len(mi.InfoBytes), nil)
	huge := startFakePeer(t, mi.InfoHash, 100<<20, func(int) []byte { return make([]byte, wire.MetadataPieceSize) })
	honest := seeder(t, mi, data)

	c := newTestClient(t, Config{})
	m := &metainfo.Magnet{InfoHash: mi.InfoHash, Peers: []string{wrongData.addr, wrongSize.addr, rejects.addr, huge.addr, honest}}
	got, peers, _, err := resolve(t, c, m, TorrentOptions{}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.InfoBytes, mi.InfoBytes) {
		t.Fatal("resolved metadata differs")
	}
	if !slices.Contains(peers, honest) {
		t.Fatalf("returned peers %v: want the honest one", peers)
	}
	if n := huge.requests.Load(); n != 0 {
		t.Fatalf("%d requests to a peer claiming 100 MiB of metadata, want none", n)
	}
}

func TestResolveOnlyLiars(t *testing.T) {
	mi, _ := magnetTorrent(t, 3000)
	bad := bytes.Clone(mi.InfoBytes)
	bad[100] ^= 1
	liar := startFakePeer(t, mi.InfoHash, len(bad), func(i int) []byte { return pieceOf(bad, i) })
	rejects := startFakePeer(t, mi.InfoHash, len(mi.InfoBytes), nil)
	c := newTestClient(t, Config{})
	m := &metainfo.Magnet{InfoHash: mi.InfoHash, Peers: []string{liar.addr, rejects.addr}}
	_, _, log, err := resolve(t, c, m, TorrentOptions{}, 3*time.Second)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "received 0 of 4 metadata pieces") {
		t.Fatalf("err = %v, want a deadline error saying no piece is kept", err)
	}
	if n := liar.conns.Load(); n != 1 {
		t.Fatalf("the liar was connected %d times; want once, then banned", n)
	}
	if liar.requests.Load() != 4 || rejects.requests.Load() == 0 {
		t.Fatalf("requests: liar %d (want 4), rejecter %d (want some)", liar.requests.Load(), rejects.requests.Load())
	}
	sawHashError := false
	for _, s := range log {
		sawHashError = sawHashError || strings.Contains(s.LastError, "does not match the info-hash")
	}
	if !sawHashError {
		t.Fatalf("no status said the metadata did not match: %+v", log)
	}
}

func TestResolveNoPeer(t *testing.T) {
	c := newTestClient(t, Config{})
	m := &metainfo.Magnet{InfoHash: metainfo.Hash{1}}
	_, _, _, err := resolve(t, c, m, TorrentOptions{}, 200*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no peer found") {
		t.Fatalf("err = %v", err)
	}
	// A peer that is not there: the error says so.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	m.Peers = []string{dead}
	_, _, _, err = resolve(t, c, m, TorrentOptions{}, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "could not connect to any") || !strings.Contains(err.Error(), dead) {
		t.Fatalf("err = %v", err)
	}
}

// TestResolveFromTracker: the peers come from a tracker that the
// resolver announces to as a leecher ("left" not zero).
func TestResolveFromTracker(t *testing.T) {
	mi, data := magnetTorrent(t, 100)
	addr := seeder(t, mi, data)
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		peer := append(ap.IP.To4(), byte(ap.Port>>8), byte(ap.Port))
		b, _ := bencode.EncodeBytes(map[string]any{"interval": 1800, "peers": string(peer)})
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{})
	m := &metainfo.Magnet{InfoHash: mi.InfoHash, Trackers: []string{srv.URL + "/announce"}}
	got, peers, _, err := resolve(t, c, m, TorrentOptions{}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.InfoHash != mi.InfoHash || !slices.Contains(peers, addr) {
		t.Fatalf("resolved %s with peers %v", got.InfoHash, peers)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) == 0 || !strings.Contains(queries[0], "event=started") || !strings.Contains(queries[0], "left=1") {
		t.Fatalf("announces %q: want event=started with left=1", queries)
	}
}

// TestResolveEndsOnClose: closing the client ends a Resolve in progress.
func TestResolveEndsOnClose(t *testing.T) {
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Resolve(context.Background(), &metainfo.Magnet{InfoHash: metainfo.Hash{2}}, TorrentOptions{}, nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want the client closed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve still running 10 s after Close")
	}
}

// TestResolveFromIncomingPeer: a peer that connects to us for the
// magnet's info-hash (it found us through a tracker or the DHT) gives us
// the metadata, though we knew no address; also when both require
// encryption (the encrypted handshake finds the magnet's info-hash).
func TestResolveFromIncomingPeer(t *testing.T) {
	for _, enc := range []Encryption{EncryptionPrefer, EncryptionRequire} {
		t.Run(enc.String(), func(t *testing.T) { testResolveFromIncomingPeer(t, enc) })
	}
}

func testResolveFromIncomingPeer(t *testing.T, enc Encryption) {
	mi, data := magnetTorrent(t, 1000)
	c := newTestClient(t, Config{Encryption: enc})
	seed := newTestClient(t, Config{Encryption: enc})
	go func() {
		// Once the Resolve is registered, the seeder dials us.
		for {
			c.mu.Lock()
			r := c.resolving[mi.InfoHash]
			c.mu.Unlock()
			if r != nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		seed.AddTorrent(context.Background(), mi, newMemStorage(&mi.Info, data), TorrentOptions{Peers: []string{c.Addr().String()}})
	}()
	got, _, log, err := resolve(t, c, &metainfo.Magnet{InfoHash: mi.InfoHash}, TorrentOptions{}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.InfoBytes, mi.InfoBytes) {
		t.Fatal("resolved metadata differs")
	}
	if last := log[len(log)-1]; last.Peers != 0 || last.Have != last.Total {
		t.Fatalf("last status %+v: want every piece from a peer we never dialed", last)
	}
}
