package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/bencode"
)

// DefaultBootstrap returns the well-known public routers that a node with
// a nil Config.Bootstrap starts from.
func DefaultBootstrap() []string {
	return []string{
		"router.bittorrent.com:6881",
		"router.utorrent.com:6881",
		"dht.transmissionbt.com:6881",
		"dht.libtorrent.org:25401",
	}
}

// Config configures a Node. The zero value listens on a random UDP port
// of every interface and bootstraps from DefaultBootstrap.
type Config struct {
	// Addr is the UDP address to listen on, "host:port"; "" = ":0". An IPv6
	// address makes an IPv6 node (BEP 32).
	Addr string
	// Conn, when not nil, is the socket to use instead of listening on
	// Addr: e.g. the DHT side of a UDP socket shared with uTP, which
	// passes on the datagrams that are KRPC messages. The node closes it
	// on Close.
	Conn net.PacketConn
	// IPv6, with Conn, makes the node an IPv6 node (BEP 32) whatever
	// Conn's address says: for the IPv6 side of a socket on every address
	// of both families, which is otherwise an IPv4 node.
	IPv6 bool
	// Sibling is the node of the other family on the same host, when
	// there is one: each answers a query that wants the other family's
	// nodes too (BEP 32 "want": n4 and n6) from the other's table.
	Sibling *Node
	// NodeID is our ID; zero = the one saved in StateFile, or random.
	NodeID ID
	// Bootstrap are "host:port" nodes to start from; nil =
	// DefaultBootstrap(), an empty non-nil slice = none (the first node of
	// a private network).
	Bootstrap []string
	// StateFile keeps the ID and routing table across runs (written
	// atomically at Close and every few minutes); "" = not kept.
	StateFile string
	// QueryTimeout bounds the wait for one reply; 0 = 2 s.
	QueryTimeout time.Duration
	// QueryRate is how many queries per second one source IP may send us
	// (QueryBurst at once); beyond it queries are dropped. 0 = 25 per
	// second, burst 100; negative = no limit.
	QueryRate  float64
	QueryBurst int
	// Logger receives the node's events; nil discards them.
	Logger *slog.Logger

	// lookupIP resolves a bootstrap node's host name; nil = the
	// system's resolver. Tests set it.
	lookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Node is a DHT node: a KRPC server that answers the network's queries,
// and a client that looks up and announces info-hashes. Its goroutines
// run until Close.
type Node struct {
	cfg     Config
	log     *slog.Logger
	conn    net.PacketConn
	udp     *net.UDPConn         // conn, when it is a UDP socket: no allocation per packet
	local   netip.AddrPort       // the socket's address
	v6      bool                 // the socket's family: IPv6 nodes speak nodes6 (BEP 32)
	sibling atomic.Pointer[Node] // the node of the other family, or nil
	limiter *limiter
	// resolveLog keeps offline retries from repeating their warnings;
	// shared with the sibling, which resolves the same names.
	resolveLog *resolveLog

	// seeds are the bootstrap nodes as last resolved (at seedsAt) for a
	// lookup on an empty table.
	// seedsBusy is closed when the resolution under way ends; nil when
	// none is: the others wait for it, each under its own context.
	seedsMu   sync.Mutex
	seeds     []netip.AddrPort
	seedsAt   time.Time
	seedsBusy chan struct{}

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards everything below
	id      ID
	table   *table
	tokens  *tokens
	peers   *peerStore
	pending map[txKey]chan *message
	nextTx  uint16
	closed  bool
}

type txKey struct {
	t    string
	addr netip.AddrPort
}

// New listens on cfg.Addr and starts serving. It does not contact the
// network until Bootstrap, GetPeers or Announce.
func New(cfg Config) (*Node, error) {
	if cfg.Addr == "" {
		cfg.Addr = ":0"
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 2 * time.Second
	}
	if cfg.QueryRate == 0 {
		cfg.QueryRate, cfg.QueryBurst = 25, 100
	}
	if cfg.Bootstrap == nil {
		cfg.Bootstrap = DefaultBootstrap()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "dht")
	var saved []NodeInfo
	if cfg.StateFile != "" {
		id, nodes, err := loadState(cfg.StateFile)
		if err != nil {
			log.Warn("starting with an empty DHT routing table", "err", err)
		}
		if cfg.NodeID.IsZero() {
			cfg.NodeID = id
		}
		saved = nodes
	}
	if cfg.NodeID.IsZero() {
		cfg.NodeID = RandomID()
	}
	conn := cfg.Conn
	var v6 bool
	if conn == nil {
		ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("DHT listen address %q: %w", cfg.Addr, err)
		}
		if conn, err = net.ListenUDP("udp", ua); err != nil {
			return nil, fmt.Errorf("DHT: listen on UDP %s: %w", cfg.Addr, err)
		}
		v6 = ua.IP != nil && ua.IP.To4() == nil
	}
	local, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("DHT: the socket's address %s: %w", conn.LocalAddr(), err)
	}
	if cfg.Conn != nil {
		// A socket on all addresses of both families is an IPv4 node,
		// like one listening on ":0".
		v6 = cfg.IPv6 || local.Addr().Is6() && !local.Addr().Is4In6() && !local.Addr().IsUnspecified()
	}
	udp, _ := conn.(*net.UDPConn)
	now := time.Now()
	n := &Node{
		cfg:     cfg,
		log:     log,
		conn:    conn,
		udp:     udp,
		local:   local,
		v6:      v6,
		limiter: newLimiter(cfg.QueryRate, cfg.QueryBurst),
		id:      cfg.NodeID,
		table:   newTable(cfg.NodeID),
		tokens:  newTokens(now),
		peers:   newPeerStore(),
		pending: make(map[txKey]chan *message),
	}
	n.resolveLog = &resolveLog{}
	if sib := cfg.Sibling; sib != nil && sib.v6 != n.v6 {
		n.sibling.Store(sib)
		sib.sibling.Store(n)
		n.resolveLog = sib.resolveLog
	}
	for _, s := range saved {
		if s.Addr.Addr().Is6() == n.v6 {
			n.table.seen(s, false, time.Time{})
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(2)
	go n.readLoop()
	go n.maintain()
	return n, nil
}

// ID is this node's ID.
func (n *Node) ID() ID { return n.id }

// IPv6 reports whether the node is an IPv6 node (BEP 32), whose routing
// table and peers are IPv6 addresses; otherwise they are IPv4 ones.
func (n *Node) IPv6() bool { return n.v6 }

// Addr is the UDP address the node listens on.
func (n *Node) Addr() netip.AddrPort { return n.local }

// Nodes lists the routing table's live nodes, nearest to us first.
func (n *Node) Nodes() []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.table.all()
}

// Close stops the node's goroutines, waits for them, and saves the state
// file.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	err := n.conn.Close()
	n.wg.Wait()
	if saveErr := n.save(); saveErr != nil {
		return saveErr
	}
	return err
}

func (n *Node) save() error {
	if n.cfg.StateFile == "" {
		return nil
	}
	n.mu.Lock()
	nodes := n.table.all()
	n.mu.Unlock()
	return saveState(n.cfg.StateFile, n.id, nodes)
}

// maxPacket is the largest UDP payload.
const maxPacket = 65535

func (n *Node) readLoop() {
	defer n.wg.Done()
	buf := make([]byte, maxPacket)
	dec := newDecoder()
	for {
		sz, from, err := n.readFrom(buf)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Debug("DHT read failed", "err", err)
			continue
		}
		n.handle(dec, buf[:sz], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()))
	}
}

// readFrom reads one packet and its sender.
func (n *Node) readFrom(buf []byte) (int, netip.AddrPort, error) {
	if n.udp != nil {
		return n.udp.ReadFromUDPAddrPort(buf)
	}
	sz, from, err := n.conn.ReadFrom(buf)
	if err != nil {
		return sz, netip.AddrPort{}, err
	}
	ap, perr := netip.ParseAddrPort(from.String())
	if ua, ok := from.(*net.UDPAddr); ok {
		ap, perr = ua.AddrPort(), nil
	}
	if perr != nil {
		return 0, netip.AddrPort{}, nil // an address we cannot answer: dropped by handle
	}
	return sz, ap, nil
}

// handle acts on one packet from a peer; invalid packets are dropped.
func (n *Node) handle(dec *decoder, b []byte, from netip.AddrPort) {
	if !usable(from) {
		return
	}
	m, err := dec.decode(b)
	if err != nil {
		n.log.Debug("dropped DHT packet", "from", from, "err", err)
		return
	}
	if m.Y == "q" {
		if !n.limiter.allow(from.Addr(), time.Now()) {
			return
		}
		n.serve(m, from)
		return
	}
	n.mu.Lock()
	ch := n.pending[txKey{m.T, from}]
	delete(n.pending, txKey{m.T, from})
	n.mu.Unlock()
	if ch != nil {
		ch <- m // buffered, one reply per transaction
	}
}

func (n *Node) send(to netip.AddrPort, m *message) error {
	b, err := bencode.EncodeBytes(m)
	if err != nil {
		return fmt.Errorf("encode KRPC %s: %w", m.Y, err)
	}
	return n.sendRaw(to, b)
}

func (n *Node) sendRaw(to netip.AddrPort, b []byte) error {
	if to.Addr().Is4() && !n.local.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port()) // dual-stack socket
	}
	var err error
	if n.udp != nil {
		_, err = n.udp.WriteToUDPAddrPort(b, to)
	} else {
		_, err = n.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
	if err != nil {
		return fmt.Errorf("send to DHT node %s: %w", to, err)
	}
	return nil
}
