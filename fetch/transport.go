package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/torfs/torfs/wire"
)

// A Transport is one way of reaching peers: TCP, uTP. A Client dials
// every transport of Config.Transports for each new peer address, keeps
// the connection that opens first and closes the others, and accepts
// peers from each transport's listener.
type Transport interface {
	// Name names the transport in logs and PeerStats ("tcp"; a uTP
	// transport returns TransportUTP).
	Name() string
	// Dial connects to a peer. It returns when ctx ends; a connection
	// that opens as ctx ends is closed by the Client all the same.
	Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
	// Listener is where peers connect to us over this transport; nil for
	// a transport that only dials. The Client accepts from it, and closes
	// it when the Client closes. The port of the first listener is the
	// one announced to trackers, the DHT and peers.
	Listener() net.Listener
}

// Transport names.
const (
	TransportTCP = "tcp"
	// TransportUTP is the Name of a uTP (BEP 29) transport: a peer that
	// PEX says supports uTP (flag 0x04) is dialed over it first.
	TransportUTP = "utp"
)

// TCP is the TCP transport. Its zero value dials only; ListenTCP makes
// one that also accepts.
type TCP struct {
	ln net.Listener
}

// ListenTCP returns a TCP transport accepting peers on addr, e.g. ":6881"
// or "127.0.0.1:0"; "" means ":0" (all addresses, IPv4 and IPv6, a port
// the system picks).
func ListenTCP(addr string) (*TCP, error) {
	if addr == "" {
		addr = ":0"
	}
	// "tcp" on an address without a host listens on IPv4 and IPv6.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for peers on %s: %w", addr, err)
	}
	return &TCP{ln: ln}, nil
}

// Name returns "tcp".
func (*TCP) Name() string { return TransportTCP }

// Dial opens a TCP connection to addr.
func (*TCP) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr.String())
}

// Listener returns the listener of ListenTCP, or nil.
func (tr *TCP) Listener() net.Listener {
	if tr.ln == nil {
		return nil // a nil *net.TCPListener in the interface would not be nil
	}
	return tr.ln
}

// utpHeadStart is how long a peer known to support uTP gets to answer
// over uTP before the other transports are dialed too (unless uTP fails
// first): like libtorrent, prefer uTP, which yields to other traffic,
// without waiting long on a peer that no longer answers on it.
const utpHeadStart = 500 * time.Millisecond

// dialOrder returns the transports to race for an address and the head
// start of the first: uTP first for a peer that PEX says supports it,
// otherwise all at once in the configured order.
func (c *Client) dialOrder(pexFlags byte) ([]Transport, time.Duration) {
	ts := c.transports
	if pexFlags&wire.PEXUTP == 0 || len(ts) < 2 {
		return ts, 0
	}
	for i, tr := range ts {
		if tr.Name() == TransportUTP {
			order := make([]Transport, 0, len(ts))
			order = append(order, tr)
			order = append(order, ts[:i]...)
			order = append(order, ts[i+1:]...)
			return order, utpHeadStart
		}
	}
	return ts, 0
}

// dialFirst dials addr over every transport of ts and returns the first
// connection that opens, with its transport. With a head start, ts[0]
// is dialed alone until it fails or the head start passes. The losing
// dials are cancelled; any connection they still open is closed, on
// goroutines counted in wg so that their owner can wait for them.
func dialFirst(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, ts []Transport, headStart time.Duration) (net.Conn, Transport, error) {
	if len(ts) == 0 {
		return nil, nil, errors.New("no transport to dial peers with")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		conn net.Conn
		tr   Transport
		err  error
	}
	results := make(chan result, len(ts))
	var won sync.Mutex // held while deciding whether a connection is the first
	done := false
	start := func(tr Transport) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := tr.Dial(ctx, addr)
			won.Lock()
			defer won.Unlock()
			if done {
				if conn != nil {
					conn.Close()
				}
				return
			}
			results <- result{conn, tr, err} // buffered: never blocks
		}()
	}
	start(ts[0])
	pending, rest := 1, ts[1:]
	startRest := func() {
		for _, tr := range rest {
			start(tr)
		}
		pending += len(rest)
		rest = nil
	}
	if headStart <= 0 {
		startRest()
	}
	var timer <-chan time.Time
	if len(rest) > 0 {
		tm := time.NewTimer(headStart)
		defer tm.Stop()
		timer = tm.C
	}
	var errs []error
	for pending > 0 {
		select {
		case <-timer:
			timer = nil
			startRest()
		case r := <-results:
			pending--
			if r.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.tr.Name(), r.err))
				if pending == 0 {
					startRest()
				}
				continue
			}
			won.Lock()
			done = true
			// Results sent before done was set wait in the channel;
			// dials that end later see done and close their own.
			for len(results) > 0 {
				if l := <-results; l.conn != nil {
					l.conn.Close()
				}
			}
			won.Unlock()
			return r.conn, r.tr, nil
		}
	}
	if len(errs) == 1 {
		return nil, nil, errors.Unwrap(errs[0]) // one transport: its error as it was
	}
	return nil, nil, errors.Join(errs...)
}

// addrPort returns a connection's address as a netip.AddrPort, IPv4
// addresses unmapped.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		if a == nil {
			return ap, false
		}
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return ap, false
		}
	}
	if !ap.IsValid() {
		return ap, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// connect dials addr over the transports (see dialOrder) and exchanges
// BitTorrent handshakes, sending ours. check, run before the deadline is
// lifted, judges the peer's handshake and may write more. It returns the
// connection, the peer's handshake and the transport that carried it.
// The losing dials are counted in wg.
func (c *Client) connect(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, pexFlags byte, ours wire.Handshake, check func(net.Conn, wire.Handshake) error) (net.Conn, wire.Handshake, Transport, error) {
	var hs wire.Handshake
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ts, headStart := c.dialOrder(pexFlags)
	conn, tr, err := dialFirst(dctx, wg, addr, ts, headStart)
	if err != nil {
		return nil, hs, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := wire.WriteHandshake(conn, ours); err != nil {
		conn.Close()
		return nil, hs, nil, err
	}
	hs, err = wire.ReadHandshake(conn)
	if err != nil {
		conn.Close()
		return nil, hs, nil, fmt.Errorf("handshake: %w", err)
	}
	if err := check(conn, hs); err != nil {
		conn.Close()
		return nil, hs, nil, err
	}
	if !stop() {
		return nil, hs, nil, ctx.Err() // closed as it ended
	}
	conn.SetDeadline(time.Time{})
	return conn, hs, tr, nil
}
