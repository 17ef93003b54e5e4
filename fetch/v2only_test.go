package fetch

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mse"
	"github.com/torfs/torfs/wire"
)

// TestV2OnlyRefused: a session verifies pieces with hashes it must hold
// from the start, so AddTorrent of a v2-only torrent whose piece layers
// leave a file out, or one from a magnet link's info dictionary alone, is
// refused at once with metainfo.ErrV2Only, before any storage or network
// is touched: Resolve and ResolveLayers fetch the hashes first.
func TestV2OnlyRefused(t *testing.T) {
	full, err := metainfo.Load(filepath.Join("..", "metainfo", "testdata", "libtorrent", "v2_only.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSupported(full); err != nil {
		t.Errorf("a v2-only torrent with all its piece layers: %v", err)
	}
	mi, err := metainfo.Load(filepath.Join("..", "metainfo", "testdata", "libtorrent", "v2_incomplete_piece_layer.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{})
	if _, err := c.AddTorrent(context.Background(), mi, nil, TorrentOptions{}); !errors.Is(err, metainfo.ErrV2Only) {
		t.Errorf("AddTorrent of a v2-only torrent: %v", err)
	}
	fromLink, err := metainfo.FromInfo(full.InfoBytes, full.Magnet())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSupported(fromLink); !errors.Is(err, metainfo.ErrV2Only) {
		t.Errorf("a v2-only torrent from a magnet link: %v", err)
	}
}

// TestHybridV2Name: a peer may name a hybrid torrent by its v2 info-hash
// truncated to 20 bytes (BEP 52); torfs answers under that name, and
// forgets it with the torrent.
func TestHybridV2Name(t *testing.T) {
	data := bytes.Repeat([]byte("hybrid"), 50000)
	mi := hybridTorrent(t, data, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	name := mi.InfoHashV2.Truncated()
	r, hs, err := dialRaw(t, c.Addr().String(), name)
	if err != nil {
		t.Fatal(err)
	}
	if hs.InfoHash != name {
		t.Fatalf("answered as %s, want %s", metainfo.Hash(hs.InfoHash), name)
	}
	if m := r.next(); m.ID != wire.HaveAll {
		t.Fatalf("first message %v, want have all", &m)
	}
	tor.Close(context.Background())
	if _, _, err := dialRaw(t, c.Addr().String(), name); err == nil {
		t.Fatal("a closed torrent still answers to its v2 name")
	}
}

// TestDHTHybridBothNames: a hybrid is announced into the DHT under its v1
// info-hash and under its truncated v2 one.
func TestDHTHybridBothNames(t *testing.T) {
	first, boot := loopbackDHT(t)
	data := bytes.Repeat([]byte("dht"), 30000)
	mi := hybridTorrent(t, data, 32<<10)
	seed := dhtClient(t, boot)
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	findInDHT(t, first, mi.InfoHash, seed.Addr().String())
	findInDHT(t, first, mi.InfoHashV2.Truncated(), seed.Addr().String())
}

// TestTrackerHybridBothNames: a hybrid is announced to its trackers under
// its v1 info-hash and under its truncated v2 one, "started" for each.
func TestTrackerHybridBothNames(t *testing.T) {
	seen := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		select {
		case seen <- hex.EncodeToString([]byte(q.Get("info_hash"))) + " " + q.Get("event"):
		default:
		}
		w.Write([]byte("d8:intervali1800e5:peers0:e"))
	}))
	defer srv.Close()
	data := bytes.Repeat([]byte("trk"), 30000)
	mi := hybridTorrent(t, data, 32<<10, srv.URL+"/announce")
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	want := map[string]bool{mi.InfoHash.String() + " started": true, mi.InfoHashV2.Truncated().String() + " started": true}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case s := <-seen:
			delete(want, s)
		case <-timeout:
			t.Fatalf("announces never seen: %v", want)
		}
	}
}

// TestHybridDialsV2NameFound: a peer the tracker gives under a hybrid's
// truncated v2 info-hash alone may be a v2-only client, which knows the
// torrent by that name only: torfs dials it with that name, and keeps the
// connection it answers under it.
func TestHybridDialsV2NameFound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := ln.Addr().(*net.TCPAddr).AddrPort()
	var v2Name metainfo.Hash
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers := ""
		if r.URL.Query().Get("info_hash") == string(v2Name[:]) {
			ip := peer.Addr().As4()
			peers = string(ip[:]) + string([]byte{byte(peer.Port() >> 8), byte(peer.Port())})
		}
		fmt.Fprintf(w, "d8:intervali1800e5:peers%d:%se", len(peers), peers)
	}))
	defer srv.Close()
	data := bytes.Repeat([]byte("two"), 30000)
	mi := hybridTorrent(t, data, 32<<10, srv.URL+"/announce")
	v2Name = mi.InfoHashV2.Truncated()
	// The v2-only peer: it answers a handshake naming the v2 info-hash,
	// and hangs up on any other.
	named := make(chan metainfo.Hash, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				hs, err := wire.ReadHandshake(conn)
				if err != nil {
					return
				}
				select {
				case named <- hs.InfoHash:
				default: // the test reads the first names only
				}
				if hs.InfoHash != v2Name {
					return
				}
				reply := wire.Handshake{InfoHash: v2Name, PeerID: [20]byte{'-', 'V', '2'}}
				if wire.WriteHandshake(conn, reply) != nil {
					return
				}
				io.Copy(io.Discard, conn) // until torfs hangs up
			}()
		}
	}()
	c := newTestClient(t, Config{Encryption: EncryptionOff})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	select {
	case got := <-named:
		if got != v2Name {
			t.Fatalf("dialled a peer found under the v2 name with %s, want %s", got, v2Name)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the peer the tracker gave under the v2 name was never dialled")
	}
	waitPeers(t, tor, 1, 20*time.Second)
}

// TestSKeyLookupFollowsServedNames: an encrypted handshake names its
// torrent by HASH('req2', info-hash) (BEP 8 MSE). The client finds every
// name it serves that way in one lookup: a torrent's info-hash, a
// hybrid's truncated v2 info-hash, and a magnet link being resolved,
// and none of them once the torrent is closed or the resolve ends.
func TestSKeyLookupFollowsServedNames(t *testing.T) {
	data := bytes.Repeat([]byte("skey"), 40000)
	mi := hybridTorrent(t, data, 64<<10)
	c := newTestClient(t, Config{})
	served := func(name metainfo.Hash) bool {
		got, ok := c.servedSKey(mse.SKeyHash(name))
		if ok && got != name {
			t.Fatalf("SKEY of %s found %s", name, metainfo.Hash(got))
		}
		return ok
	}
	v1, v2 := mi.InfoHash, mi.InfoHashV2.Truncated()
	if served(v1) || served(v2) {
		t.Fatal("a torrent not added yet is served")
	}
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	if !served(v1) || !served(v2) {
		t.Fatalf("an added hybrid: v1 name served %v, v2 name %v", served(v1), served(v2))
	}

	magnet := metainfo.Hash{0x4d, 0x41, 0x47}
	ctx, cancel := context.WithCancel(context.Background())
	resolved := make(chan error, 1)
	go func() {
		_, _, err := c.Resolve(ctx, &metainfo.Magnet{InfoHash: magnet}, TorrentOptions{}, nil)
		resolved <- err
	}()
	testutil.Eventually(t, "the magnet link served while it resolves", func() bool { return served(magnet) })
	cancel()
	<-resolved
	if served(magnet) {
		t.Error("a magnet link whose resolve ended is still served")
	}

	tor.Close(context.Background())
	if served(v1) || served(v2) {
		t.Errorf("a closed hybrid: v1 name served %v, v2 name %v", served(v1), served(v2))
	}
}

// hybridTorrent makes a hybrid (v1 and v2) torrent of one file "f" with
// content data, announced to trackers, one per tier.
func hybridTorrent(t *testing.T, data []byte, pieceLen int64, trackers ...string) *metainfo.MetaInfo {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var tiers [][]string
	for _, tr := range trackers {
		tiers = append(tiers, []string{tr})
	}
	mi, err := metainfo.Create(context.Background(), path, metainfo.CreateOptions{PieceLength: pieceLen, Version: metainfo.Hybrid, Trackers: tiers})
	if err != nil {
		t.Fatal(err)
	}
	return mi
}
