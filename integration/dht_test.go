package integration

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestDHTFindsLibtorrent: libtorrent joins a DHT of torfs nodes on
// loopback and announces a torrent into it; a torfs node that joins the
// same DHT later finds libtorrent's peer address with get_peers.
func TestDHTFindsLibtorrent(t *testing.T) {
	t.Parallel()
	ctx := harness.Context(t, 90*time.Second)

	// Eight torfs nodes, all bootstrapped from the first. Every node shares
	// 127.0.0.1, so the per-IP query limit is off.
	newNode := func(bootstrap ...string) *dht.Node {
		n, err := dht.New(dht.Config{Addr: "127.0.0.1:0", Bootstrap: append([]string{}, bootstrap...), QueryRate: -1,
			QueryTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	first := newNode()
	nodes := []*dht.Node{first}
	for range 7 {
		nodes = append(nodes, newNode(first.Addr().String()))
	}
	var wg sync.WaitGroup
	for _, n := range nodes[1:] {
		wg.Go(func() {
			if err := n.Bootstrap(ctx); err != nil {
				t.Errorf("torfs DHT node bootstrap: %v", err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// libtorrent seeds a torrent with no tracker, bootstrapping its DHT from
	// a torfs node.
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "data.bin"), 1<<20, 7)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "data.bin"), harness.TorrentOptions{})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Seed, Torrent: torrent, Save: src, DHTBootstrap: []string{nodes[2].Addr().String()},
	})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort(seed.Addr())

	// A newcomer bootstraps from another torfs node and looks the torrent
	// up until libtorrent's announce has landed.
	searcher := newNode(nodes[5].Addr().String())
	if err := searcher.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	var found []netip.AddrPort
	for !slices.Contains(found, want) {
		if err := seed.DHTAnnounce(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("torfs never found libtorrent (%s) in the DHT; last lookup found %v", want, found)
		case <-time.After(500 * time.Millisecond):
		}
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		found, err = searcher.GetPeers(attempt, dht.ID(mi.InfoHash))
		cancel()
		if err != nil {
			t.Logf("get_peers: %v", err)
		}
	}
	t.Logf("torfs found libtorrent at %s among %v", want, found)

	// libtorrent is a full member of the DHT: torfs nodes route to it.
	member := false
	for _, n := range append(nodes, searcher) {
		for _, info := range n.Nodes() {
			member = member || info.Addr.Port() == want.Port()
		}
	}
	if !member {
		t.Errorf("no torfs node has libtorrent's DHT node (port %d) in its routing table", want.Port())
	}
}

// TestGetMagnetThroughDHT is issue 7's proof: libtorrent seeds a torrent
// with no tracker and announces it into a DHT that torfs nodes make up on
// loopback; torfs get of a bare magnet link (no tracker, no peer), told
// only of one DHT node, finds libtorrent through the DHT, fetches the
// metadata from it and then the data, byte for byte.
func TestGetMagnetThroughDHT(t *testing.T) {
	t.Parallel()
	ctx := harness.Context(t, 90*time.Second)
	var nodes []*dht.Node
	for i := range 4 {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr().String()}
		}
		n, err := dht.New(dht.Config{Addr: "127.0.0.1:0", Bootstrap: append([]string{}, boot...), QueryRate: -1, QueryTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
		if i > 0 {
			if err := n.Bootstrap(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}

	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "lecture.mp4"), 6<<20+3, 21)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "lecture.mp4"), harness.TorrentOptions{})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	if len(mi.Trackers()) != 0 {
		t.Fatalf("the torrent names trackers %v; want none", mi.Trackers())
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Seed, Torrent: torrent, Save: src, DHTBootstrap: []string{nodes[1].Addr().String()},
	})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	// Wait for libtorrent's announce to land, so torfs get's own lookup
	// is what the test measures.
	awaitDHTAnnounce(ctx, t, seed, nodes[3], mi.InfoHash, netip.MustParseAddrPort(seed.Addr()))

	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	magnet := "magnet:?xt=urn:btih:" + mi.InfoHash.String()
	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0",
		"--dht-bootstrap", nodes[2].Addr().String(), "--dht-state", "", magnet)
	harness.AssertSameFile(t, filepath.Join(src, "lecture.mp4"), filepath.Join(out, "lecture.mp4"))
	t.Logf("torfs get through the DHT:\n%s", r.Stderr)
}

// awaitDHTAnnounce has libtorrent announce ih into the DHT until node's
// get_peers finds it at want, failing the test when ctx ends first.
func awaitDHTAnnounce(ctx context.Context, t *testing.T, seed *harness.Libtorrent, node *dht.Node, ih metainfo.Hash, want netip.AddrPort) {
	t.Helper()
	for {
		if err := seed.DHTAnnounce(); err != nil {
			t.Fatal(err)
		}
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		found, _ := node.GetPeers(attempt, dht.ID(ih))
		cancel()
		if slices.Contains(found, want) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("libtorrent (%s) never announced into the loopback DHT", want)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
