package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/wire"
)

// DHTConfig turns on the DHT (BEP 5) for a Client.
type DHTConfig struct {
	// Addr is the UDP address to listen on; "" = the host and port of the
	// TCP listener (falling back to a free port when that one is taken).
	Addr string
	// Conn, when not nil, is the socket the node uses instead of
	// listening on Addr: the DHT side of a UDP socket shared with a uTP
	// transport, as libtorrent shares one port. The node closes it when
	// the Client closes.
	Conn net.PacketConn
	// Conn6, when not nil beside Conn, runs a second node, an IPv6 one
	// (BEP 32), with its own routing table: Conn6 and Conn are then the
	// IPv6 and the IPv4 side of one socket of both families
	// (utp.Socket.PacketConns). Its table is kept in StateFile with "6"
	// before the extension (dht6.state). When it cannot start, the IPv4
	// node runs alone.
	Conn6 net.PacketConn
	// Bootstrap are "host:port" nodes to join through; nil = the
	// well-known public routers (dht.DefaultBootstrap), empty = none.
	Bootstrap []string
	// StateFile keeps the node's ID and routing table across runs; "" =
	// not kept.
	StateFile string
}

const (
	// dhtAnnounceEvery is how often a torrent announces itself: BEP 5
	// nodes forget peers after about 30 minutes.
	dhtAnnounceEvery = 15 * time.Minute
	// dhtLookupEvery is how often a torrent that wants more peers looks
	// for them in between.
	dhtLookupEvery = 5 * time.Minute
	// dhtRetry is the wait after a failed lookup or announce (the table
	// may still be filling).
	dhtRetry = 30 * time.Second
	// dhtBootstrapTimeout bounds the background bootstrap.
	dhtBootstrapTimeout = 2 * time.Minute
	// maxPortNodes bounds the PORT messages a torrent acts on: each costs
	// a ping.
	maxPortNodes = 200
)

// dhtState is a torrent's use of the DHT. Guarded by t.mu.
type dhtState struct {
	// portNodes are the DHT nodes peers told us of (PORT), pinged once.
	portNodes map[string]bool
}

// needDHT starts the Client's DHT node and its bootstrap in the
// background, when the Client has a DHTConfig and the node is not running
// yet. The first torrent that may use the DHT (one that is not private)
// and the first Resolve call it, so that a Client with only private
// torrents never opens the DHT socket nor sends a DHT packet (BEP 27).
// A closed Client starts nothing.
func (c *Client) needDHT() error {
	cfg := c.cfg.DHT
	if cfg == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.dht.Load() != nil {
		return nil
	}
	if c.dhtErr != nil {
		return c.dhtErr
	}
	if err := c.startDHT(cfg); err != nil {
		c.dhtErr = fmt.Errorf("starting the DHT: %w", err)
		return c.dhtErr
	}
	return nil
}

// startDHT creates the Client's DHT node and bootstraps it in the
// background. Called with c.mu held and c.closed false, so Close waits
// for the bootstrap.
func (c *Client) startDHT(cfg *DHTConfig) error {
	addr := cfg.Addr
	if addr == "" {
		host, _, _ := net.SplitHostPort(c.cfg.ListenAddr)
		addr = net.JoinHostPort(host, strconv.Itoa(int(c.listenPort())))
	}
	dc := dht.Config{Addr: addr, Conn: cfg.Conn, Bootstrap: cfg.Bootstrap, StateFile: cfg.StateFile, Logger: c.log}
	conn6 := cfg.Conn6
	if host, _, _ := net.SplitHostPort(addr); cfg.Addr == "" && cfg.Conn == nil && host == "" {
		// Every address, a socket of our own (no uTP to share one
		// with): one per family, as on a shared socket.
		dc.Conn, conn6 = c.listenDHTFamilies(c.listenPort())
	}
	node, err := dht.New(dc)
	if err != nil && cfg.Addr == "" && dc.Conn == nil {
		// Our TCP port is taken on UDP: any port will do.
		c.log.Debug("DHT port taken, using another", "addr", addr, "err", err)
		host, _, _ := net.SplitHostPort(addr)
		dc.Addr = net.JoinHostPort(host, "0")
		node, err = dht.New(dc)
	}
	if err != nil {
		if conn6 != nil && conn6 != cfg.Conn6 {
			conn6.Close()
		}
		return err
	}
	c.dht.Store(node)
	c.bootstrapDHT(node, slog.LevelWarn)
	if conn6 == nil {
		return nil
	}
	dc.Conn, dc.IPv6, dc.Sibling, dc.StateFile = conn6, true, node, stateFile6(cfg.StateFile)
	node6, err := dht.New(dc)
	if err != nil {
		if conn6 != cfg.Conn6 {
			conn6.Close() // ours, from listenDHTFamilies
		}
		c.log.Info("no IPv6 DHT node; the IPv4 one runs alone", "err", err)
		return nil
	}
	c.dht6.Store(node6)
	// A host without IPv6 connectivity is common: its node's failure to
	// join is no news.
	c.bootstrapDHT(node6, slog.LevelDebug)
	return nil
}

// listenDHTFamilies opens a UDP socket on every IPv4 address and one on
// every IPv6 address at port (another when port is taken, the same for
// both when it can be), for an IPv4 and an IPv6 DHT node. c4 is nil when
// no IPv4 socket could be opened, c6 when no IPv6 one could (a kernel
// without IPv6): the caller then does without.
func (c *Client) listenDHTFamilies(port uint16) (c4, c6 net.PacketConn) {
	u4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
	if err != nil && port != 0 {
		c.log.Debug("DHT port taken, using another", "port", port, "err", err)
		u4, err = net.ListenUDP("udp4", &net.UDPAddr{})
	}
	if err != nil {
		c.log.Debug("no IPv4 DHT socket", "err", err)
		return nil, nil
	}
	p := u4.LocalAddr().(*net.UDPAddr).Port
	u6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: p})
	if err != nil {
		u6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified})
	}
	if err != nil {
		c.log.Info("no IPv6 DHT node; the IPv4 one runs alone", "err", err)
		return u4, nil
	}
	return u4, u6
}

// bootstrapDHT joins the DHT with node in the background, saying at
// level when it fails.
func (c *Client) bootstrapDHT(node *dht.Node, level slog.Level) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, dhtBootstrapTimeout)
		defer cancel()
		if err := node.Bootstrap(ctx); err != nil && c.ctx.Err() == nil {
			c.log.Log(ctx, level, "DHT bootstrap failed; torrents keep trying", "ipv6", node.IPv6(), "err", err)
		}
	}()
}

// stateFile6 is where the IPv6 node beside the node keeping f keeps its
// table: "6" before f's extension.
func stateFile6(f string) string {
	if f == "" {
		return ""
	}
	ext := filepath.Ext(f)
	return strings.TrimSuffix(f, ext) + "6" + ext
}

// dhtNodes are the Client's running DHT nodes: none, one, or an IPv4 and
// an IPv6 one.
func (c *Client) dhtNodes() []*dht.Node {
	var nodes []*dht.Node
	for _, p := range []*atomic.Pointer[dht.Node]{&c.dht, &c.dht6} {
		if n := p.Load(); n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// dhtFor is the DHT node for a peer or node at a: the IPv6 one for an
// IPv6 address when there are two; nil when the DHT is not running.
func (c *Client) dhtFor(a netip.Addr) *dht.Node {
	if n6 := c.dht6.Load(); n6 != nil && a.Unmap().Is6() {
		return n6
	}
	return c.dht.Load()
}

// DHTNodes counts the live nodes in the routing tables of the Client's
// DHT nodes by family, "ipv4" and "ipv6"; nil when the DHT is off or not
// started.
func (c *Client) DHTNodes() map[string]int {
	nodes := c.dhtNodes()
	if len(nodes) == 0 {
		return nil
	}
	m := map[string]int{}
	for _, n := range nodes {
		fam := "ipv4"
		if n.IPv6() {
			fam = "ipv6"
		}
		m[fam] += len(n.Nodes())
	}
	return m
}

// DHTAddr returns the UDP address of the Client's DHT node, and false
// when the DHT is off or not started: it starts with the first torrent
// that is not private, or the first Resolve.
func (c *Client) DHTAddr() (net.Addr, bool) {
	node := c.dht.Load()
	if node == nil {
		return nil, false
	}
	return net.UDPAddrFromAddrPort(node.Addr()), true
}

// usesDHT reports whether the torrent may use the DHT: never for private
// torrents (BEP 27), whose peers come from their tracker only.
func (t *Torrent) usesDHT() bool { return !t.info.Private && t.c.dht.Load() != nil }

// dhtPort is the UDP port to send the peer at addr in a PORT message:
// that of our DHT node of the peer's family, which is the node the peer
// can reach. It is false when the torrent does not use the DHT.
func (t *Torrent) dhtPort(addr string) (uint16, bool) {
	if !t.usesDHT() {
		return 0, false
	}
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		a = ap.Addr()
	}
	node := t.c.dhtFor(a)
	if node == nil {
		return 0, false
	}
	return node.Addr().Port(), true
}

// dhtAnnouncePort is the peer port node announces: the router's external
// port (port mapping is IPv4) for the IPv4 node, the listening port for
// the IPv6 one, as for trackers.
func (c *Client) dhtAnnouncePort(node *dht.Node) uint16 {
	if node.IPv6() {
		return c.announcePortFor(tracker.IPv6)
	}
	return c.announcePortFor(tracker.IPv4)
}

// startDHT finds peers for the torrent in the DHT and announces it there,
// through each of the Client's nodes (IPv4 and IPv6).
func (t *Torrent) startDHT() {
	if !t.usesDHT() {
		return
	}
	for _, node := range t.c.dhtNodes() {
		t.wg.Add(1)
		go t.dhtLoop(node)
	}
}

// dhtLoop announces the torrent every dhtAnnounceEvery (the announce's
// lookup also finds peers) and, while the torrent wants peers, looks for
// more every dhtLookupEvery. Peers are added as each node's reply brings
// them, not when the lookup ends. A hybrid is announced under its
// truncated v2 info-hash too, as libtorrent does, so that v2 peers find
// it (they name it so in the handshake, which torfs accepts).
func (t *Torrent) dhtLoop(node *dht.Node) {
	defer t.wg.Done()
	if len(t.mi.Nodes) > 0 {
		n := node.AddNodes(t.ctx, t.mi.Nodes...)
		t.log.Debug("DHT nodes from the torrent", "given", len(t.mi.Nodes), "answered", n)
	}
	ih := dht.ID(t.mi.InfoHash)
	names := []dht.ID{ih}
	if t.mi.Version() == metainfo.Hybrid {
		names = append(names, dht.ID(t.mi.InfoHashV2.Truncated()))
	}
	foundUnder := func(name dht.ID) func([]netip.AddrPort) {
		return func(peers []netip.AddrPort) {
			t.log.Debug("DHT found peers", "peers", len(peers), "infohash", metainfo.Hash(name))
			t.addPeersUnder(peers, nil, "", metainfo.Hash(name))
		}
	}
	found := foundUnder(ih)
	now := time.Now()
	nextAnnounce, nextLookup := now, now
	for {
		var err error
		now = time.Now()
		switch {
		case !now.Before(nextAnnounce):
			for _, name := range names {
				err = errors.Join(err, node.AnnounceFunc(t.ctx, name, int(t.c.dhtAnnouncePort(node)), foundUnder(name)))
			}
			nextAnnounce, nextLookup = now.Add(dhtAnnounceEvery), now.Add(dhtLookupEvery)
			if err != nil {
				nextAnnounce = now.Add(dhtRetry)
			}
		case !now.Before(nextLookup):
			if t.wantsPeers() {
				err = node.GetPeersFunc(t.ctx, ih, found)
			}
			nextLookup = now.Add(dhtLookupEvery)
			if err != nil {
				nextLookup = now.Add(dhtRetry)
			}
		}
		if t.ctx.Err() != nil {
			return
		}
		if err != nil {
			t.log.Debug("DHT", "err", err)
		}
		tm := time.NewTimer(time.Until(earliest(nextAnnounce, nextLookup)))
		select {
		case <-t.ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// wantsPeers reports whether more peers would help: we miss pieces and
// have room for connections.
func (t *Torrent) wantsPeers() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.seeding() && len(t.peers) < t.c.cfg.MaxConnsPerTorrent
}

// onPort learns the DHT port of a peer (BEP 5 PORT message): its node
// joins our routing table if it answers a ping.
func (p *peer) onPort(m *wire.Message) {
	t := p.t
	a, ok := addrPort(p.conn.RemoteAddr())
	if !t.usesDHT() || !ok || m.Port == 0 {
		return
	}
	hp := netip.AddrPortFrom(a.Addr(), m.Port).String()
	t.mu.Lock()
	if t.dht.portNodes == nil {
		t.dht.portNodes = map[string]bool{}
	}
	fresh := !t.dht.portNodes[hp] && len(t.dht.portNodes) < maxPortNodes && !t.closed
	if fresh {
		t.dht.portNodes[hp] = true
		t.wg.Add(1) // under the lock, with closed false: Close is not waiting yet
	}
	t.mu.Unlock()
	if fresh {
		node := t.c.dhtFor(a.Addr())
		go func() {
			defer t.wg.Done()
			node.AddNodes(t.ctx, hp)
		}()
	}
}
