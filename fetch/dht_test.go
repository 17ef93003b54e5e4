package fetch

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zeebo/bencode"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// loopbackDHT starts the first node of a private DHT on loopback and
// returns its address, for DHTConfig.Bootstrap.
func loopbackDHT(t *testing.T) (*dht.Node, string) {
	t.Helper()
	n, err := dht.New(dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, QueryRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, n.Addr().String()
}

func dhtClient(t *testing.T, boot string) *Client {
	t.Helper()
	return newTestClient(t, Config{DHT: &DHTConfig{Bootstrap: []string{boot}}})
}

// findInDHT waits until a lookup from node finds addr as a peer of ih.
func findInDHT(t *testing.T, node *dht.Node, ih metainfo.Hash, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		peers, _ := node.GetPeers(ctx, dht.ID(ih))
		for _, p := range peers {
			if p.String() == addr {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s was never announced for %s", addr, ih)
}

// TestDHTMagnet: a seeder announces its torrent into a loopback DHT; a
// magnet link with no tracker and no peer resolves through the DHT and
// downloads.
func TestDHTMagnet(t *testing.T) {
	first, boot := loopbackDHT(t)
	mi, data := magnetTorrent(t, 200)
	seed := dhtClient(t, boot)
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	if a, ok := seed.DHTAddr(); !ok || a.String() != seed.Addr().String() {
		t.Fatalf("DHT on %v, want the TCP listen address %s", a, seed.Addr())
	}
	// Else the leecher's first lookup may come before the announce and
	// wait for the next one.
	findInDHT(t, first, mi.InfoHash, seed.Addr().String())

	leech := dhtClient(t, boot)
	got, peers, _, err := resolve(t, leech, &metainfo.Magnet{InfoHash: mi.InfoHash}, TorrentOptions{}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.InfoBytes, mi.InfoBytes) {
		t.Fatal("resolved metadata differs")
	}
	st := newMemStorage(&got.Info, nil)
	tor := addTorrent(t, leech, got, st, TorrentOptions{DownloadAll: true, Peers: peers})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

// TestDHTNotForPrivate: a client seeding a public and a private torrent
// announces only the public one, and tells peers of the private one that
// it has no DHT.
func TestDHTNotForPrivate(t *testing.T) {
	watcher, boot := loopbackDHT(t)
	pub, pubData := magnetTorrent(t, 50)
	priv := privateTorrent(t)
	c := dhtClient(t, boot)
	pubTor := addTorrent(t, c, pub, newMemStorage(&pub.Info, pubData), TorrentOptions{})
	privTor := addTorrent(t, c, priv, newMemStorage(&priv.Info, nil), TorrentOptions{})

	findInDHT(t, watcher, pub.InfoHash, c.Addr().String())
	// The public announce went through, and both torrents started at the
	// same moment: a private announce would be there too by now.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if peers, err := watcher.GetPeers(ctx, dht.ID(priv.InfoHash)); len(peers) != 0 {
		t.Fatalf("the private torrent is in the DHT: %v %v", peers, err)
	}
	for _, tc := range []struct {
		tor  *Torrent
		want bool
	}{{pubTor, true}, {privTor, false}} {
		r, hs, err := dialRawExtended(t, c.Addr().String(), tc.tor.InfoHash())
		if err != nil {
			t.Fatal(err)
		}
		if hs.Reserved.DHT() != tc.want {
			t.Errorf("private=%v: handshake DHT bit %v, want %v", tc.tor.Info().Private, hs.Reserved.DHT(), tc.want)
		}
		leave(r, tc.tor)
	}
}

func privateTorrent(t *testing.T) *metainfo.MetaInfo {
	t.Helper()
	info, err := bencode.EncodeBytes(map[string]any{
		"length": 1000, "name": "private.bin", "piece length": 1024, "pieces": string(bytes.Repeat([]byte{1}, 20)), "private": 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.FromInfo(info, &metainfo.Magnet{InfoHash: sha1.Sum(info)})
	if err != nil || !mi.Info.Private {
		t.Fatalf("private torrent: %v", err)
	}
	return mi
}

// TestDHTStateFile: the routing table survives a restart.
func TestDHTStateFile(t *testing.T) {
	_, boot := loopbackDHT(t)
	state := t.TempDir() + "/dht.state"
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0", DHT: &DHTConfig{Bootstrap: []string{boot}, StateFile: state}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.needDHT(); err != nil { // a client without torrents has not started it
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.dht.Load().Nodes()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(c.dht.Load().Nodes()) == 0 {
		t.Fatal("the client never bootstrapped")
	}
	c.Close()
	c2 := newTestClient(t, Config{DHT: &DHTConfig{Bootstrap: []string{}, StateFile: state}})
	if err := c2.needDHT(); err != nil {
		t.Fatal(err)
	}
	nodes := c2.dht.Load().Nodes()
	if len(nodes) == 0 || nodes[0].Addr.String() != boot {
		t.Fatalf("restarted with nodes %v, want %s from the state file", nodes, boot)
	}
}

// waitForNode waits until c's routing table holds addr.
func waitForNode(t *testing.T, c *Client, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.dht.Load().Nodes() {
			if n.Addr.String() == addr {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the client's DHT never added %s: %v", addr, c.dht.Load().Nodes())
}

// TestDHTNodesFromTorrentAndPeers: the nodes a torrent lists and the DHT
// port a peer sends (PORT, BEP 5) join the routing table.
func TestDHTNodesFromTorrentAndPeers(t *testing.T) {
	_, a := loopbackDHT(t)
	fromPeer, b := loopbackDHT(t)
	c := newTestClient(t, Config{DHT: &DHTConfig{Bootstrap: []string{}}})
	mi, data := magnetTorrent(t, 20)
	mi.Nodes = []string{a}
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	waitForNode(t, c, a)

	r, hs, err := dialRawExtended(t, c.Addr().String(), mi.InfoHash)
	if err != nil || !hs.Reserved.DHT() {
		t.Fatalf("handshake %v, DHT bit %v", err, hs.Reserved.DHT())
	}
	port := fromPeer.Addr().Port()
	r.send(wire.AppendPort(nil, port))
	waitForNode(t, c, b)
	leave(r, tor)
}

// leave closes a raw peer's connection and waits for the torrent to drop
// it.
func leave(r *rawPeer, tor *Torrent) {
	r.conn.Close()
	for deadline := time.Now().Add(5 * time.Second); len(tor.Stats().Peers) > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// deadDHTNode is a UDP socket that never answers, as a DHT node that
// went away; it returns the socket, to see what was sent to it.
func deadDHTNode(t *testing.T) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// writeDHTState writes a DHT state file whose routing table holds nodes
// (IPv4 addresses), so a client starts knowing exactly them.
func writeDHTState(t *testing.T, path string, nodes ...dht.NodeInfo) {
	t.Helper()
	var compact []byte
	for _, n := range nodes {
		compact = append(compact, n.ID[:]...)
		compact = append(compact, n.Addr.Addr().AsSlice()...)
		compact = binary.BigEndian.AppendUint16(compact, n.Addr.Port())
	}
	id := dht.RandomID()
	b, err := bencode.EncodeBytes(map[string]string{"id": string(id[:]), "nodes": string(compact)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDHTMagnetWithDeadNode: a magnet resolves through the DHT although
// one node of the resolver's routing table never answers: the peers the
// live node gives are dialled at once, not after the dead node's query
// timed out (2 s). The test logs how long resolving took.
func TestDHTMagnetWithDeadNode(t *testing.T) {
	first, boot := loopbackDHT(t)
	mi, data := magnetTorrent(t, 200)
	seed := dhtClient(t, boot)
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	findInDHT(t, first, mi.InfoHash, seed.Addr().String())

	dead := deadDHTNode(t)
	deadAddr := dead.LocalAddr().(*net.UDPAddr).AddrPort()
	state := filepath.Join(t.TempDir(), "dht.state")
	writeDHTState(t, state, dht.NodeInfo{ID: first.ID(), Addr: first.Addr()}, dht.NodeInfo{ID: dht.RandomID(), Addr: deadAddr})
	leech := newTestClient(t, Config{DHT: &DHTConfig{Bootstrap: []string{}, StateFile: state}})
	start := time.Now()
	got, _, _, err := resolve(t, leech, &metainfo.Magnet{InfoHash: mi.InfoHash}, TorrentOptions{}, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resolved through the DHT with a dead node in the table in %v", time.Since(start))
	if !bytes.Equal(got.InfoBytes, mi.InfoBytes) {
		t.Fatal("resolved metadata differs")
	}
	// The dead node was asked too: the lookup did not just miss it.
	buf := make([]byte, 1500)
	dead.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := dead.Read(buf)
		if err != nil {
			t.Fatalf("the dead node got no get_peers for the info-hash: %v", err)
		}
		if bytes.Contains(buf[:n], []byte("9:get_peers")) && bytes.Contains(buf[:n], mi.InfoHash[:]) {
			break
		}
	}
}

// TestDHTPrivateOnlyClientSendsNothing: a client with a DHT configured
// whose only torrent is private downloads it from its peer without ever
// starting the DHT (BEP 27): the bootstrap node, a socket the test owns,
// receives no packet. A public torrent on a second client makes the
// same socket receive queries, so the check can see them.
func TestDHTPrivateOnlyClientSendsNothing(t *testing.T) {
	boot := deadDHTNode(t)
	bootAddr := boot.LocalAddr().String()
	priv, data := magnetTorrent(t, 30)
	priv.Info.Private = true
	seed := seeder(t, priv, data)

	c := dhtClient(t, bootAddr)
	st := newMemStorage(&priv.Info, nil)
	tor := addTorrent(t, c, priv, st, TorrentOptions{DownloadAll: true, Peers: []string{seed}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
	if a, ok := c.DHTAddr(); ok {
		t.Errorf("a client with only a private torrent runs a DHT node on %v", a)
	}
	c.Close() // a packet sent at any time is queued on boot by now
	if pkts := testutil.QueuedUDP(t, boot); len(pkts) != 0 {
		t.Fatalf("the DHT bootstrap node got %d packets from a client with only a private torrent, first %q", len(pkts), pkts[0])
	}

	// Control: a public torrent starts the DHT, which queries boot.
	pub, pubData := magnetTorrent(t, 31)
	c2 := dhtClient(t, bootAddr)
	addTorrent(t, c2, pub, newMemStorage(&pub.Info, pubData), TorrentOptions{})
	boot.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := boot.Read(make([]byte, 1500)); err != nil {
		t.Fatalf("a public torrent's client sent the bootstrap node nothing either: %v", err)
	}
}

// TestDHTPrivateNeverInPackets: a client running the DHT for a public
// torrent sends no DHT packet that names its private torrent.
func TestDHTPrivateNeverInPackets(t *testing.T) {
	boot := deadDHTNode(t)
	priv := privateTorrent(t)
	pub, pubData := magnetTorrent(t, 32)
	c := dhtClient(t, boot.LocalAddr().String())
	addTorrent(t, c, priv, newMemStorage(&priv.Info, nil), TorrentOptions{})
	addTorrent(t, c, pub, newMemStorage(&pub.Info, pubData), TorrentOptions{})
	// Wait for the public torrent's get_peers: the private one started
	// first, so its lookup would be sent by now.
	var pkts [][]byte
	boot.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		buf := make([]byte, 1500)
		n, err := boot.Read(buf)
		if err != nil {
			t.Fatalf("no get_peers for the public torrent: %v", err)
		}
		pkts = append(pkts, buf[:n])
		if bytes.Contains(buf[:n], pub.InfoHash[:]) {
			break
		}
	}
	pkts = append(pkts, testutil.QueuedUDP(t, boot)...)
	for _, p := range pkts {
		if bytes.Contains(p, priv.InfoHash[:]) {
			t.Fatalf("a DHT packet names the private torrent: %q", p)
		}
	}
}
