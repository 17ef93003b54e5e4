package fetch

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// v2MemStorage is a memStorage that checks pieces by their BEP 52 hashes.
type v2MemStorage struct {
	*memStorage
	mi *metainfo.MetaInfo
}

func (s *v2MemStorage) Verify(p int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.info.PieceOffset(p)
	s.ok[p] = s.mi.CheckPiece(p, s.data[start:start+s.info.PieceSize(p)])
	delete(s.reserved, p)
	return s.ok[p], nil
}

func (s *v2MemStorage) Prove(p int) (bool, error) { return s.Verify(p) }

// v2Torrent makes a v2-only torrent of several files in pieces of 16 KiB:
// one of several pieces and a bit, one smaller than a piece, one of
// exactly one piece, and one of 601 pieces, whose layer takes two hash
// requests (512 and 89 hashes) proven by uncles. It returns the torrent
// and its bytes as they lie in the torrent (pad files as zeros).
func v2Torrent(t *testing.T) (*metainfo.MetaInfo, []byte) {
	t.Helper()
	const pl = 16 << 10
	mi, data := v2TorrentOf(t, map[string]int{"a": 5*pl + 100, "b": 1000, "c": pl, "d": 601*pl - 7})
	if len(mi.PieceLayers) != 2 {
		t.Fatalf("test torrent: %d layers", len(mi.PieceLayers))
	}
	return mi, data
}

// v2TorrentOf makes a v2-only torrent in pieces of 16 KiB of files of
// the sizes given, and returns it with its bytes as v2Torrent does.
func v2TorrentOf(t *testing.T, sizes map[string]int) (*metainfo.MetaInfo, []byte) {
	t.Helper()
	const pl = 16 << 10
	dir := filepath.Join(t.TempDir(), "v2")
	rng := rand.NewChaCha8([32]byte{52})
	for name, n := range sizes {
		b := make([]byte, n)
		rng.Read(b)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mi, err := metainfo.Create(context.Background(), dir, metainfo.CreateOptions{PieceLength: pl, Version: metainfo.V2, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, mi.Info.Length)
	for _, f := range mi.Info.Files {
		if f.Pad {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.Join(f.Path...)))
		if err != nil {
			t.Fatal(err)
		}
		copy(data[f.Offset:], b)
	}
	if !mi.HasAllHashesV2() || mi.HasV1() {
		t.Fatalf("test torrent: v1 %v, all v2 hashes %v", mi.HasV1(), mi.HasAllHashesV2())
	}
	return mi, data
}

// v2Seeder starts a torfs Client seeding the v2-only torrent mi.
func v2Seeder(t *testing.T, mi *metainfo.MetaInfo, data []byte) string {
	t.Helper()
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, &v2MemStorage{newMemStorage(&mi.Info, data), mi}, TorrentOptions{})
	return c.Addr().String()
}

// TestV2MagnetDownload: a torfs leecher given only the btmh magnet link
// of a v2-only torrent gets the info dictionary, then the piece layers
// by hash requests from a torfs seeder, and downloads and verifies every
// piece.
func TestV2MagnetDownload(t *testing.T) {
	mi, data := v2Torrent(t)
	seed := v2Seeder(t, mi, data)
	m := mi.Magnet()
	if m.HasV1() {
		t.Fatalf("magnet %+v has a v1 info-hash", m)
	}
	m.Peers = []string{seed}
	c := newTestClient(t, Config{})
	got, peers, log, err := resolve(t, c, m, TorrentOptions{}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasAllHashesV2() || len(got.PieceLayers) != len(mi.PieceLayers) {
		t.Fatalf("resolved torrent has %d piece layers (all hashes: %v), want %d", len(got.PieceLayers), got.HasAllHashesV2(), len(mi.PieceLayers))
	}
	for root, layer := range mi.PieceLayers {
		if !bytes.Equal(got.PieceLayers[root], layer) {
			t.Fatalf("layer of %s differs", root)
		}
	}
	if last := log[len(log)-1]; last.HashParts != 3 || last.HashPartsTotal != 3 {
		t.Fatalf("last status %+v, want 3 of 3 hash parts", last)
	}
	downloadV2(t, c, got, peers, data)
}

// TestV2LayersOnePieceOver: a file of 513 pieces ends in a part of one
// piece, which a torfs leecher asks a torfs seeder for as a run of 2
// (the piece and the padding beside it) that the seeder serves and the
// leecher verifies; the download then completes.
func TestV2LayersOnePieceOver(t *testing.T) {
	const pl = 16 << 10
	mi, data := v2TorrentOf(t, map[string]int{"a": 513*pl - 3, "b": 100})
	seed := v2Seeder(t, mi, data)
	bare, err := metainfo.FromInfo(mi.InfoBytes, mi.Magnet())
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last ResolveStatus
	peers, err := c.ResolveLayers(ctx, bare, TorrentOptions{Peers: []string{seed}}, func(s ResolveStatus) { last = s })
	if err != nil {
		t.Fatal(err)
	}
	if last.HashParts != 2 || last.HashPartsTotal != 2 {
		t.Fatalf("last status %+v, want 2 of 2 hash parts", last)
	}
	downloadV2(t, c, bare, peers, data)
}

// lyingHashPeer answers every hash request with hashes of the right
// count and the wrong value; done is closed when the first connection
// that asked it ends (torfs dropped it).
type lyingHashPeer struct {
	addr string
	done chan struct{}
	once sync.Once
	// asked counts hash requests.
	asked int
	mu    sync.Mutex
}

func startLyingHashPeer(t *testing.T, name metainfo.Hash) *lyingHashPeer {
	t.Helper()
	l := &lyingHashPeer{done: make(chan struct{})}
	l.addr = serveLoopback(t, func(conn net.Conn) { l.serve(conn, name) })
	return l
}

func (l *lyingHashPeer) serve(conn net.Conn, name metainfo.Hash) {
	defer conn.Close()
	if _, err := wire.ReadHandshake(conn); err != nil {
		return
	}
	h := wire.Handshake{InfoHash: name}
	h.Reserved.SetExtended(true)
	h.Reserved.SetV2(true)
	copy(h.PeerID[:], "-XX0001-liar12345678")
	if wire.WriteHandshake(conn, h) != nil {
		return
	}
	dec := wire.NewDecoder(conn, 0)
	asked := false
	defer func() {
		if asked {
			l.once.Do(func() { close(l.done) })
		}
	}()
	for {
		var m wire.Message
		if err := dec.Decode(&m); err != nil {
			return
		}
		if m.ID != wire.HashRequest {
			continue
		}
		asked = true
		l.mu.Lock()
		l.asked++
		l.mu.Unlock()
		r := hashRun(m.Hash)
		junk := bytes.Repeat([]byte{0x5a}, (r.Length+r.Uncles())*metainfo.Hash256Size)
		if _, err := conn.Write(wire.AppendHashes(nil, m.Hash, junk)); err != nil {
			return
		}
	}
}

// gatedProxy forwards connections to target, each only once open is
// closed.
func gatedProxy(t *testing.T, target string, open <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer in.Close()
				select {
				case <-open:
				case <-ctx.Done():
					return
				}
				out, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer out.Close()
				stop := context.AfterFunc(ctx, func() { in.Close(); out.Close() })
				defer stop()
				go func() { io.Copy(out, in); out.Close() }()
				io.Copy(in, out)
			})
		}
	})
	return ln.Addr().String()
}

// TestV2LayersFromLiarAndHonestPeer: ResolveLayers, for a v2-only
// torrent that has only its info dictionary, first meets a peer whose
// hashes do not hash up to the pieces root: that peer is banned (not
// returned for the session) and the layers come from an honest peer,
// reachable only once the liar was dropped, so the liar is surely asked
// first. The download then completes.
func TestV2LayersFromLiarAndHonestPeer(t *testing.T) {
	mi, data := v2Torrent(t)
	bare, err := metainfo.FromInfo(mi.InfoBytes, mi.Magnet())
	if err != nil {
		t.Fatal(err)
	}
	if bare.HasAllHashesV2() || CheckSupported(bare) == nil {
		t.Fatal("a v2-only torrent from its info dictionary alone has all its hashes")
	}
	liar := startLyingHashPeer(t, mi.InfoHash)
	honest := gatedProxy(t, v2Seeder(t, mi, data), liar.done)
	var logs testutil.Buffer
	c := newTestClient(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	peers, err := c.ResolveLayers(ctx, bare, TorrentOptions{Peers: []string{liar.addr, honest}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(peers, liar.addr) || !slices.Contains(peers, honest) {
		t.Fatalf("peers %v: want %s without the liar %s", peers, honest, liar.addr)
	}
	liar.mu.Lock()
	asked := liar.asked
	liar.mu.Unlock()
	if asked == 0 {
		t.Fatal("the liar was never asked for hashes")
	}
	if ban := "banning a peer that sent corrupt data"; !strings.Contains(logs.String(), ban) || !strings.Contains(logs.String(), liar.addr) {
		t.Errorf("no %q naming %s in the log:\n%s", ban, liar.addr, logs.String())
	}
	if err := CheckSupported(bare); err != nil {
		t.Fatalf("after ResolveLayers: %v", err)
	}
	downloadV2(t, c, bare, peers, data)
}

// TestServeHashRequests: a torfs seeder answers a v2 peer's hash request
// for a piece layer with hashes that prove up to the file's pieces root,
// and rejects requests for unknown roots and runs out of bounds, staying
// connected.
func TestServeHashRequests(t *testing.T) {
	mi, data := v2Torrent(t)
	seed := v2Seeder(t, mi, data)
	r, hs, err := dialRaw(t, seed, mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if !hs.Reserved.V2() {
		t.Fatal("the seeder's handshake lacks the v2 bit")
	}
	var big metainfo.File
	for _, f := range mi.Info.Files {
		if f.Length > big.Length {
			big = f
		}
	}
	parts := metainfo.LayerParts(big.PiecesRoot, mi.Info.PieceLength, big.Length)
	good := parts[1]
	unknown := good
	unknown.Root[0] ^= 1
	below := good
	below.Base = -1 // pieces of 16 KiB: the piece layer is layer 0
	tooLong := good
	tooLong.Length = 1 << 20
	tooDeep := good
	tooDeep.ProofLayers = 40
	for _, run := range []metainfo.HashRun{unknown, below, tooLong, tooDeep, good} {
		r.send(wire.AppendHashRequest(nil, wire.HashRequest, hashRange(run)))
	}
	var got []wire.Message
	for len(got) < 5 {
		m := r.next()
		switch m.ID {
		case wire.HashReject, wire.Hashes:
			m.Payload = bytes.Clone(m.Payload)
			got = append(got, m)
		}
	}
	for i, m := range got[:4] {
		if m.ID != wire.HashReject {
			t.Fatalf("silly request %d answered with %v", i, &m)
		}
	}
	if got[4].ID != wire.Hashes || hashRun(got[4].Hash) != good {
		t.Fatalf("request for %+v answered with %v", good, &got[4])
	}
	hashes, err := metainfo.VerifyLayerPart(good, mi.Info.PieceLength, big.Length, got[4].Payload)
	if err != nil {
		t.Fatal(err)
	}
	layer := mi.PieceLayers[big.PiecesRoot]
	if !bytes.Equal(hashes, layer[good.Index*metainfo.Hash256Size:]) {
		t.Fatal("served hashes differ from the piece layer")
	}
}

// TestHybridDialAcceptsV2Name: torfs dials a hybrid's peer with the v1
// info-hash and the v2 bit set; a v2-aware peer (libtorrent) answers
// under the truncated v2 info-hash, and torfs keeps the connection,
// greeting the peer with what it has.
func TestHybridDialAcceptsV2Name(t *testing.T) {
	data := bytes.Repeat([]byte("hybrid"), 30000)
	mi := hybridTorrent(t, data, 32<<10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		theirs wire.Handshake
		first  wire.Message
		err    error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		var r result
		if r.theirs, r.err = wire.ReadHandshake(conn); r.err == nil {
			h := wire.Handshake{InfoHash: mi.InfoHashV2.Truncated()}
			h.Reserved.SetFast(true)
			copy(h.PeerID[:], "-LT2080-v2peer123456")
			if r.err = wire.WriteHandshake(conn, h); r.err == nil {
				r.err = wire.NewDecoder(conn, 0).Decode(&r.first)
			}
		}
		got <- r
	}()
	c := newTestClient(t, Config{Encryption: EncryptionOff})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{Peers: []string{ln.Addr().String()}})
	var r result
	select {
	case r = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("torfs never dialled the peer")
	}
	if r.err != nil {
		t.Fatalf("the connection under the v2 name ended: %v", r.err)
	}
	if r.theirs.InfoHash != mi.InfoHash || !r.theirs.Reserved.V2() {
		t.Fatalf("torfs dialled with %s (v2 bit %v), want %s with the v2 bit", metainfo.Hash(r.theirs.InfoHash), r.theirs.Reserved.V2(), mi.InfoHash)
	}
	if r.first.ID != wire.HaveAll {
		t.Fatalf("first message %v, want have all", &r.first)
	}
}

// downloadV2 downloads v2 torrent mi with c from peers into memory and
// checks the bytes against data.
func downloadV2(t *testing.T, c *Client, mi *metainfo.MetaInfo, peers []string, data []byte) {
	t.Helper()
	st := &v2MemStorage{newMemStorage(&mi.Info, nil), mi}
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: peers})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}
