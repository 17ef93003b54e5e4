package fetch

import (
	"bytes"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/utp"
)

// TestDHTBothFamilies: a client whose DHT runs on the two sides of one
// dual-stack socket (DHTConfig.Conn and Conn6), told of a bootstrap node
// of each family, resolves a magnet link whose only seed is in a DHT on
// ::1 and another whose only seed is in a DHT on 127.0.0.1: its IPv6 and
// its IPv4 node each find theirs. Each node keeps its own state file.
func TestDHTBothFamilies(t *testing.T) {
	boot4, boot6, mi4, data4, mi6, data6 := twoFamilyDHTs(t)

	sock, err := utp.Listen(netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Fatal(err)
	}
	conn4, conn6 := sock.PacketConns()
	state := filepath.Join(t.TempDir(), "dht.state")
	leech := newTestClient(t, Config{DHT: &DHTConfig{
		Conn: conn4, Conn6: conn6, StateFile: state,
		Bootstrap: []string{boot4.Addr().String(), boot6.Addr().String()},
	}})
	if err := leech.needDHT(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() }) // first: the nodes read from it until it closes

	resolveBoth(t, leech, mi4, data4, mi6, data6)
	nodes := leech.DHTNodes()
	if nodes["ipv4"] == 0 || nodes["ipv6"] == 0 {
		t.Errorf("DHT nodes by family %v; want some of each", nodes)
	}
	sock.Close()
	leech.Close()

	// A second run starts from both tables, kept apart.
	sock2, err := utp.Listen(netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Fatal(err)
	}
	conn4, conn6 = sock2.PacketConns()
	again := newTestClient(t, Config{DHT: &DHTConfig{Conn: conn4, Conn6: conn6, StateFile: state, Bootstrap: []string{}}})
	t.Cleanup(func() { sock2.Close() })
	if err := again.needDHT(); err != nil {
		t.Fatal(err)
	}
	if got := again.DHTNodes(); got["ipv4"] == 0 || got["ipv6"] == 0 {
		t.Errorf("a second run's DHT nodes by family %v; want the kept ones of each", got)
	}
}

// TestDHTBothFamiliesOwnSockets: with no socket given and a listen
// address of every address (no uTP to share a port with), the client
// opens a DHT socket per family itself, at its TCP port, and each finds
// its seed.
func TestDHTBothFamiliesOwnSockets(t *testing.T) {
	boot4, boot6, mi4, data4, mi6, data6 := twoFamilyDHTs(t)
	leech := newTestClient(t, Config{ListenAddr: ":0", DHT: &DHTConfig{
		Bootstrap: []string{boot4.Addr().String(), boot6.Addr().String()},
	}})
	if err := leech.needDHT(); err != nil {
		t.Fatal(err)
	}
	port := leech.listenPort()
	for _, n := range leech.dhtNodes() {
		if n.Addr().Port() != port {
			t.Errorf("DHT node (IPv6 %v) on %v, want port %d", n.IPv6(), n.Addr(), port)
		}
	}
	resolveBoth(t, leech, mi4, data4, mi6, data6)
	if nodes := leech.DHTNodes(); nodes["ipv4"] == 0 || nodes["ipv6"] == 0 {
		t.Errorf("DHT nodes by family %v; want some of each", nodes)
	}
}

// resolveBoth resolves the magnet links of mi6 and mi4 through c's DHT
// alone and downloads them from the peers found.
func resolveBoth(t *testing.T, leech *Client, mi4 *metainfo.MetaInfo, data4 []byte, mi6 *metainfo.MetaInfo, data6 []byte) {
	t.Helper()
	for _, c := range []struct {
		mi   *metainfo.MetaInfo
		data []byte
	}{{mi6, data6}, {mi4, data4}} {
		got, peers, _, err := resolve(t, leech, &metainfo.Magnet{InfoHash: c.mi.InfoHash}, TorrentOptions{}, 30*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", c.mi.Info.Name, err)
		}
		st := newMemStorage(&got.Info, nil)
		tor := addTorrent(t, leech, got, st, TorrentOptions{DownloadAll: true, Peers: peers})
		waitComplete(t, tor, 30*time.Second)
		if !bytes.Equal(st.bytes(), c.data) {
			t.Fatalf("%s: downloaded data differs", c.mi.Info.Name)
		}
	}
}

// twoFamilyDHTs starts a one-node DHT on ::1 and one on 127.0.0.1, each
// with a seed (listening on its family only) of its own torrent
// announced into it.
func twoFamilyDHTs(t *testing.T) (boot4, boot6 *dht.Node, mi4 *metainfo.MetaInfo, data4 []byte, mi6 *metainfo.MetaInfo, data6 []byte) {
	t.Helper()
	boot6, err := dht.New(dht.Config{Addr: "[::1]:0", Bootstrap: []string{}, QueryRate: -1})
	if err != nil {
		t.Fatalf("this machine has no ::1 (%v); IPv6 loopback is required", err)
	}
	t.Cleanup(func() { boot6.Close() })
	boot4, _ = loopbackDHT(t)

	mi4, data4 = magnetTorrent(t, 40)
	seed4 := dhtClient(t, boot4.Addr().String())
	addTorrent(t, seed4, mi4, newMemStorage(&mi4.Info, data4), TorrentOptions{})
	mi6, data6 = magnetTorrent(t, 60)
	seed6 := newTestClient(t, Config{ListenAddr: "[::1]:0", DHT: &DHTConfig{Bootstrap: []string{boot6.Addr().String()}}})
	addTorrent(t, seed6, mi6, newMemStorage(&mi6.Info, data6), TorrentOptions{})
	findInDHT(t, boot4, mi4.InfoHash, seed4.Addr().String())
	findInDHT(t, boot6, mi6.InfoHash, seed6.Addr().String())

	return boot4, boot6, mi4, data4, mi6, data6
}

// TestDHTPortPerFamily: with the IPv4 port forwarded by the router as
// another port, the IPv4 DHT node announces that port and the IPv6 node
// the listening port (the mapping is IPv4's); a peer gets in its PORT
// message the port of our DHT node of its own family.
func TestDHTPortPerFamily(t *testing.T) {
	boot6, err := dht.New(dht.Config{Addr: "[::1]:0", Bootstrap: []string{}, QueryRate: -1})
	if err != nil {
		t.Skipf("this machine has no ::1 (%v)", err)
	}
	t.Cleanup(func() { boot6.Close() })
	boot4, _ := loopbackDHT(t)
	conn4, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn6, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		conn4.Close()
		t.Fatal(err)
	}
	fake := &fakeMapping{}
	fake.ext.Store(40000)
	c := newTestClient(t, Config{
		MapPort: func(uint16, func()) PortMapping { return fake },
		DHT: &DHTConfig{Conn: conn4, Conn6: conn6,
			Bootstrap: []string{boot4.Addr().String(), boot6.Addr().String()}},
	})
	mi, data := magnetTorrent(t, 70)
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	findInDHT(t, boot4, mi.InfoHash, "127.0.0.1:40000")
	findInDHT(t, boot6, mi.InfoHash, netip.AddrPortFrom(netip.IPv6Loopback(), c.listenPort()).String())

	for _, tc := range []struct {
		peer string
		conn net.PacketConn
	}{{"127.0.0.1:6881", conn4}, {"[::1]:6881", conn6}} {
		want := uint16(tc.conn.LocalAddr().(*net.UDPAddr).Port)
		if got, ok := tor.dhtPort(tc.peer); !ok || got != want {
			t.Errorf("PORT for a peer at %s: %d (%v), want %d", tc.peer, got, ok, want)
		}
	}
}
