package integration

import (
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// requireIPv6Loopback skips a test on a machine where ::1 is not
// configured.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback ::1 is not configured (%v): see `ip -6 addr show lo`", err)
	}
	ln.Close()
}

// TestGetFromIPv6OnlyLibtorrent: a libtorrent seeder listening on [::1]
// only serves torfs get --peer [::1]:PORT, byte for byte.
func TestGetFromIPv6OnlyLibtorrent(t *testing.T) {
	t.Parallel()
	requireIPv6Loopback(t)
	src := t.TempDir()
	file := filepath.Join(src, "v6.bin")
	harness.RandomFile(t, file, 16<<20+77, 61)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, Listen: "[::1]:0"})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--peer", seed.Addr6(), torrent)
	harness.AssertSameFile(t, file, filepath.Join(out, "v6.bin"))
	assertOnlyIPv6Peers(t, seed)
}

// TestGetThroughIPv6OnlyTracker: a torfs tracker listening on [::1] only
// (HTTP, then UDP) learns a libtorrent seeder listening on [::1] only from
// its announce over IPv6, and torfs get, given nothing but the torrent
// naming that tracker, finds the seeder through it (BEP 7 peers6; BEP 15
// 18-byte peers) and downloads everything.
func TestGetThroughIPv6OnlyTracker(t *testing.T) {
	t.Parallel()
	requireIPv6Loopback(t)
	bin := harness.BuildTorfs(t)
	tr := harness.StartTorfs(t, bin, "tracker", "--listen", "[::1]:0", "--udp", "[::1]:0", "--interval", "1s")
	line, err := tr.WaitOutput(harness.Context(t, 30*time.Second), "tracker ready")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`announce=(\S+) udp=(\S+)`).FindStringSubmatch(line)
	if m == nil || !strings.Contains(m[1], "[::1]") || !strings.Contains(m[2], "[::1]") {
		t.Fatalf("start line without announce URLs on [::1]: %q", line)
	}
	src := t.TempDir()
	file := filepath.Join(src, "v6.bin")
	harness.RandomFile(t, file, 16<<20+1234, 62)
	for _, url := range m[1:] {
		t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
			torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{Trackers: []string{url}})
			ctx := harness.Context(t, 2*time.Minute)
			seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, Listen: "[::1]:0"})
			if err := seed.WaitFinished(ctx); err != nil {
				t.Fatal(err)
			}
			if err := seed.WaitAnnounced(ctx); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			harness.RunTorfs(t, bin, "get", "-o", out, torrent)
			harness.AssertSameFile(t, file, filepath.Join(out, "v6.bin"))
			assertOnlyIPv6Peers(t, seed)
		})
	}
}

// assertOnlyIPv6Peers fails unless every peer the seeder met came over
// IPv6 loopback, and there was one.
func assertOnlyIPv6Peers(t *testing.T, seed *harness.Libtorrent) {
	t.Helper()
	peers := seed.Peers()
	if len(peers) == 0 {
		t.Fatal("the seeder met no peer")
	}
	for _, p := range peers {
		if !strings.HasPrefix(p.Addr, "[::1]:") {
			t.Errorf("the seeder met %s, not over IPv6 loopback", p.Addr)
		}
	}
}

// TestGetMagnetThroughIPv6DHT: the DHT over IPv6 (BEP 32). torfs DHT
// nodes on [::1] make up a DHT that a libtorrent seeder listening on
// [::1] only announces a torrent into; torfs get of the bare magnet link,
// listening on [::1] (its DHT node shares that socket, so it speaks
// nodes6) and told of one node, finds the seeder, its metadata and data.
func TestGetMagnetThroughIPv6DHT(t *testing.T) {
	t.Parallel()
	requireIPv6Loopback(t)
	ctx := harness.Context(t, 90*time.Second)
	var nodes []*dht.Node
	for i := range 4 {
		var boot []string
		if i > 0 {
			boot = []string{nodes[0].Addr().String()}
		}
		n, err := dht.New(dht.Config{Addr: "[::1]:0", Bootstrap: boot, QueryRate: -1, QueryTimeout: time.Second})
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
	harness.RandomFile(t, filepath.Join(src, "v6dht.bin"), 16<<20+9, 63)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "v6dht.bin"), harness.TorrentOptions{})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Seed, Torrent: torrent, Save: src, Listen: "[::1]:0", DHTBootstrap: []string{nodes[1].Addr().String()},
	})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	awaitDHTAnnounce(ctx, t, seed, nodes[3], mi.InfoHash, netip.MustParseAddrPort(seed.Addr6()))
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	magnet := "magnet:?xt=urn:btih:" + mi.InfoHash.String()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "[::1]:0",
		"--dht-bootstrap", nodes[2].Addr().String(), "--dht-state", "", magnet)
	harness.AssertSameFile(t, filepath.Join(src, "v6dht.bin"), filepath.Join(out, "v6dht.bin"))
	assertOnlyIPv6Peers(t, seed)
}

// TestGetThroughDHTOfEitherFamily: torfs get with the default --listen
// runs a DHT node of each family on its one UDP port (BEP 32). Of two
// loopback DHTs, one of nodes on [::1] only and one of nodes on 127.0.0.1
// only, each knows the only seed of a torrent (a torfs seed listening on
// that family alone); get, told of a node of each DHT, downloads each
// torrent from its bare magnet link.
func TestGetThroughDHTOfEitherFamily(t *testing.T) {
	t.Parallel()
	requireIPv6Loopback(t)
	ctx := harness.Context(t, 2*time.Minute)
	bin := harness.BuildTorfs(t)
	var boots []string
	type family struct {
		host string
		// announcer puts the seed into this DHT; boot is the node get is
		// told of.
		announcer, boot *dht.Node
	}
	fams := []*family{{host: "[::1]"}, {host: "127.0.0.1"}}
	for _, f := range fams {
		for i := range 2 {
			var boot []string
			if i > 0 {
				boot = []string{f.boot.Addr().String()}
			}
			n, err := dht.New(dht.Config{Addr: f.host + ":0", Bootstrap: append([]string{}, boot...), QueryRate: -1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { n.Close() })
			if i == 0 {
				f.boot = n
			} else {
				f.announcer = n
			}
		}
		if err := f.announcer.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
		boots = append(boots, "--dht-bootstrap", f.boot.Addr().String())
	}
	for i, f := range fams {
		src := t.TempDir()
		name := "either" + strconv.Itoa(i) + ".bin"
		harness.RandomFile(t, filepath.Join(src, name), 1<<20+int64(i), 70+uint64(i))
		torrent := harness.MakeTorrent(t, filepath.Join(src, name), harness.TorrentOptions{})
		mi, err := metainfo.Load(torrent)
		if err != nil {
			t.Fatal(err)
		}
		_, addr := seedProcess(t, bin, src, torrent, "--listen", f.host+":0")
		seed := netip.MustParseAddrPort(addr)
		if _, err := f.announcer.Announce(ctx, dht.ID(mi.InfoHash), int(seed.Port())); err != nil {
			t.Fatal(err)
		}
		if found, err := f.boot.GetPeers(ctx, dht.ID(mi.InfoHash)); !slices.Contains(found, seed) {
			t.Fatalf("the %s DHT does not give the seed %s: %v %v", f.host, seed, found, err)
		}
		out := t.TempDir()
		magnet := "magnet:?xt=urn:btih:" + mi.InfoHash.String()
		args := append([]string{"get", "-o", out, "--dht-state", ""}, boots...)
		harness.RunTorfs(t, bin, append(args, magnet)...)
		harness.AssertSameFile(t, filepath.Join(src, name), filepath.Join(out, name))
	}
}
