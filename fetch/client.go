package fetch

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// Config configures a Client. The zero value listens on a random port of
// all addresses with default limits.
type Config struct {
	// ListenAddr is the TCP address to accept peers on, e.g. ":6881" or
	// "127.0.0.1:0"; "" means ":0" (all addresses, IPv4 and IPv6, a port
	// the system picks). Unused when Transports is set.
	ListenAddr string
	// Transports are the ways peers are reached and accepted, e.g. uTP
	// and TCP; nil means TCP alone, listening on ListenAddr. Each new
	// peer address is dialed over all of them at once (a peer that PEX
	// says supports uTP over uTP first) and the first connection to open
	// is kept. The Client takes over their listeners: it closes them on
	// Close.
	Transports []Transport
	// Encryption is the MSE/PE policy for connections both ways; the
	// zero value, EncryptionPrefer, encrypts when the peer can.
	Encryption Encryption
	// PeerID is sent in handshakes; zero means "-TF0001-" + 12 random bytes.
	PeerID [20]byte
	// MaxConns limits connections over all torrents (default 200).
	MaxConns int
	// MaxConnsPerTorrent limits connections per torrent (default 50).
	MaxConnsPerTorrent int
	// MaxHalfOpen limits outgoing connection attempts in progress (default 20).
	MaxHalfOpen int
	// UploadRate and DownloadRate cap payload rates in bytes per second
	// over all torrents; 0 means unlimited.
	UploadRate, DownloadRate int64
	// NoUpload refuses every request from peers (a pure leecher).
	NoUpload bool
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// DHT, when not nil, runs a DHT node (BEP 5) that torrents (but
	// private ones) and Resolve find peers in and announce to. The node
	// starts with the first such torrent or Resolve: a Client with only
	// private torrents never opens its socket.
	DHT *DHTConfig
	// MapPort, when set, is called once with the port the Client listens
	// on, when the first torrent is added or Resolve is called (a Client
	// that serves nothing maps nothing), to have the router in front of
	// this host forward that port from outside (package portmap does).
	// changed is to be called whenever the mapping's external port
	// changes. The Client announces the external port to trackers, the
	// DHT and peers, shows the mapping in PortMapping and closes it on
	// Close, which removes it.
	MapPort func(port uint16, changed func()) PortMapping

	// Timings of slow-peer handling; zero means the defaults below.
	// Unexported: tests shorten them.
	writeTimeout, stallAfter, idleSlotAfter time.Duration
	// trackerLookup resolves tracker names (tracker.Client.LookupHost);
	// nil means the system's resolver. Tests give names both families.
	trackerLookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// Timeouts of the connection life cycle.
const (
	dialTimeout      = 10 * time.Second
	handshakeTimeout = 10 * time.Second
	// idleTimeout drops a peer that sent nothing, not even a keep-alive.
	idleTimeout = 3 * time.Minute
	// keepAliveEvery is how long we stay silent before sending a keep-alive.
	keepAliveEvery = 90 * time.Second
	// writeTimeout drops a peer that accepts none of what we send for
	// this long: it stopped reading its socket.
	writeTimeout = 30 * time.Second
	// stallAfter is how long a write may stay blocked without progress
	// before the peer loses its upload slot to others. Progress includes
	// the peer's ACKs, which a link that delivers anything sends every
	// round trip: a second without one means the peer stopped reading.
	stallAfter = time.Second
	// slowStallFactor lengthens stallAfter for a peer that resumed
	// reading after a pause before: it reads, slowly.
	slowStallFactor = 3
	// idleSlotAfter is how long an unchoked, interested peer may ask for
	// nothing before its upload slot goes to a peer that waits for one.
	// An honest peer asks within a round trip of being unchoked.
	idleSlotAfter = time.Second
)

// Client is a BitTorrent client: a listener and the torrents it serves.
type Client struct {
	cfg        Config
	log        *slog.Logger
	transports []Transport
	// lns are the transports' listeners, each with its accept loop.
	lns      []net.Listener
	up, down *rateLimiter
	halfOpen chan struct{}
	// dht is the DHT node, nil until needDHT starts it (never when
	// Config.DHT is nil); set once, under mu. dht6 is the IPv6 node
	// beside it on a dual-stack socket (DHTConfig.Conn6), or nil.
	dht    atomic.Pointer[dht.Node]
	dht6   atomic.Pointer[dht.Node]
	dhtErr error // why the DHT node could not start; guarded by mu

	mu       sync.Mutex
	torrents map[metainfo.Hash]*Torrent
	// v2Names are the hybrid torrents by their v2 info-hash truncated to
	// 20 bytes, which v2 peers name them by in the handshake (BEP 52).
	v2Names map[metainfo.Hash]*Torrent
	// resolving are the Resolve calls in progress, which take incoming
	// peers for their info-hash.
	resolving map[metainfo.Hash]*resolver
	// skeys maps mse.SKeyHash of every name in torrents, v2Names and
	// resolving to that name, so that an encrypted handshake costs one
	// lookup, not a SHA-1 per torrent served (servedSKey).
	skeys  map[[20]byte]metainfo.Hash
	conns  int // established connections over all torrents
	closed bool

	// trackerIDs are the tracker ids a finished Resolve learned, kept for
	// the AddTorrent of the same info-hash (magnet_sources.go).
	trackerIDs map[metainfo.Hash]map[string]string

	// trackerLog reports the trackers that stop answering, once for all
	// torrents.
	trackerLog *trackerLog

	// plaintext are the peers to dial in plaintext first (plaintext.go).
	plaintext plaintextPeers
	// portMap is Config.MapPort's mapping once started; portChange is
	// closed (and replaced, under mu) when its external port changes.
	portMap    atomic.Pointer[PortMapping]
	portChange chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewClient starts listening and returns the Client. Close it to stop.
func NewClient(cfg Config) (*Client, error) {
	if cfg.PeerID == ([20]byte{}) {
		copy(cfg.PeerID[:], "-TF0001-")
		if _, err := rand.Read(cfg.PeerID[8:]); err != nil {
			return nil, fmt.Errorf("generating a peer id: %w", err)
		}
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 200
	}
	if cfg.MaxConnsPerTorrent <= 0 {
		cfg.MaxConnsPerTorrent = 50
	}
	if cfg.MaxHalfOpen <= 0 {
		cfg.MaxHalfOpen = 20
	}
	if cfg.writeTimeout <= 0 {
		cfg.writeTimeout = writeTimeout
	}
	if cfg.stallAfter <= 0 {
		cfg.stallAfter = stallAfter
	}
	if cfg.idleSlotAfter <= 0 {
		cfg.idleSlotAfter = idleSlotAfter
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	transports := cfg.Transports
	if transports == nil {
		tcp, err := ListenTCP(cfg.ListenAddr)
		if err != nil {
			return nil, err
		}
		transports = []Transport{tcp}
	}
	var lns []net.Listener
	for _, tr := range transports {
		if ln := tr.Listener(); ln != nil {
			lns = append(lns, ln)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: cfg, log: log, transports: transports, lns: lns,
		up:         newRateLimiter(cfg.UploadRate),
		down:       newRateLimiter(cfg.DownloadRate),
		halfOpen:   make(chan struct{}, cfg.MaxHalfOpen),
		torrents:   map[metainfo.Hash]*Torrent{},
		v2Names:    map[metainfo.Hash]*Torrent{},
		resolving:  map[metainfo.Hash]*resolver{},
		skeys:      map[[20]byte]metainfo.Hash{},
		portChange: make(chan struct{}),
		ctx:        ctx, cancel: cancel,
	}
	c.trackerLog = newTrackerLog(ctx, log)
	for _, tr := range transports {
		if ln := tr.Listener(); ln != nil {
			c.wg.Add(1)
			go c.acceptLoop(ln, tr.Name())
		}
	}
	return c, nil
}

// Addr returns the address peers can connect to: that of the first
// transport that listens, nil when none does.
func (c *Client) Addr() net.Addr {
	if len(c.lns) == 0 {
		return nil
	}
	return c.lns[0].Addr()
}

// PeerID returns the id this client sends in handshakes.
func (c *Client) PeerID() [20]byte { return c.cfg.PeerID }

// Close stops listening and closes every torrent without waiting for
// trackers (use Torrent.Close first to announce "stopped").
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already cancelled: skip the stopped announce
	for _, t := range ts {
		t.Close(ctx)
	}
	c.cancel()
	var err error
	for _, ln := range c.lns {
		err = errors.Join(err, ln.Close())
	}
	c.wg.Wait()
	for _, node := range c.dhtNodes() {
		if derr := node.Close(); derr != nil {
			c.log.Warn("closing the DHT node", "err", derr)
		}
	}
	if pm := c.portMap.Load(); pm != nil {
		_ = (*pm).Close() // it logs what it could not remove
	}
	return err
}

// acceptLoop takes the peers that connect to ln, a listener of the
// transport named transport.
func (c *Client) acceptLoop(ln net.Listener, transport string) {
	defer c.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if c.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Warn("accepting a peer connection failed", "err", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-c.ctx.Done():
				return
			}
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.handleIncoming(conn, transport)
		}()
	}
}

// handleIncoming reads the remote handshake, routes the connection to the
// torrent named by its info-hash and answers.
func (c *Client) handleIncoming(conn net.Conn, transport string) {
	raw := conn
	conn, skey, err := c.encryptIn(raw)
	if err != nil {
		c.log.Debug("bad incoming encrypted handshake", "peer", raw.RemoteAddr(), "err", err)
		raw.Close()
		return
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	hs, err := wire.ReadHandshake(conn)
	if err != nil {
		c.log.Debug("bad incoming handshake", "peer", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	if skey != (metainfo.Hash{}) && metainfo.Hash(hs.InfoHash) != skey {
		c.log.Debug("incoming handshake names another torrent than its encrypted handshake", "peer", conn.RemoteAddr())
		conn.Close()
		return
	}
	c.mu.Lock()
	t := c.torrents[metainfo.Hash(hs.InfoHash)]
	if t == nil {
		t = c.v2Names[metainfo.Hash(hs.InfoHash)]
	}
	r := c.resolving[metainfo.Hash(hs.InfoHash)]
	c.mu.Unlock()
	if t == nil && r != nil {
		r.acceptIncoming(conn, hs)
		return
	}
	if t == nil {
		c.log.Debug("incoming peer for an unknown torrent", "peer", conn.RemoteAddr(), "infohash", metainfo.Hash(hs.InfoHash))
		conn.Close()
		return
	}
	ours := c.handshake(t)
	ours.InfoHash = hs.InfoHash // the name the peer knows the torrent by
	if err := wire.WriteHandshake(conn, ours); err != nil {
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	t.attach(conn, hs, netip.AddrPort{}, transport)
}

// handshake is what we send for torrent t.
func (c *Client) handshake(t *Torrent) wire.Handshake {
	h := wire.Handshake{InfoHash: t.mi.InfoHash, PeerID: c.cfg.PeerID}
	h.Reserved.SetFast(true)
	h.Reserved.SetExtended(true)
	h.Reserved.SetDHT(t.usesDHT())
	// We answer BEP 52 hash requests for a torrent with v2 hashes.
	h.Reserved.SetV2(t.info.V2)
	return h
}

// reserveConn takes one slot of the global connection limit.
func (c *Client) reserveConn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.conns >= c.cfg.MaxConns {
		return false
	}
	c.conns++
	return true
}

func (c *Client) releaseConn() {
	c.mu.Lock()
	c.conns--
	c.mu.Unlock()
}

// listenPort is the port we accept peers on (for trackers and the
// extended handshake).
func (c *Client) listenPort() uint16 {
	if len(c.lns) == 0 {
		return 0
	}
	a, _ := addrPort(c.lns[0].Addr())
	return a.Port()
}
