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

// connect dials addr over the transports (see dialOrder) and exchanges
// BitTorrent handshakes (see exchange). A peer may accept a transport
// only to hang up on it (a libtorrent with TCP off still accepts TCP
// connections): when the exchange fails over the transport that
// connected first, the others get their turn. check, run before the
// deadline is lifted, judges the peer's handshake and may write more. It
// returns the connection, the peer's handshake and the transport that
// carried it. The losing dials are counted in wg.
func (c *Client) connect(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, pexFlags byte, ours wire.Handshake, check func(net.Conn, wire.Handshake) error) (net.Conn, wire.Handshake, Transport, error) {
	ts, headStart := c.dialOrder(pexFlags)
	conn, hs, tr, err := c.exchange(ctx, wg, addr, ts, headStart, ours, pexFlags)
	if err != nil && tr != nil && len(ts) > 1 && ctx.Err() == nil {
		first := err
		conn, hs, tr, err = c.exchange(ctx, wg, addr, without(ts, tr), 0, ours, pexFlags)
		if err != nil {
			err = errors.Join(first, err)
		}
	}
	if err != nil {
		return nil, hs, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
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

// exchange dials addr over ts and exchanges BitTorrent handshakes,
// sending ours: inside an encrypted handshake unless Config.Encryption is
// off, or, when it is only preferred, first in the kind that worked last
// with addr (see encryptFirst), then in the other kind over a fresh
// connection of the same transport if the peer drops the first. The
// connection keeps the handshake's deadline. tr is the transport that
// connected, also when the exchange then failed over it; nil when none
// connected.
func (c *Client) exchange(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, ts []Transport, headStart time.Duration, ours wire.Handshake, pexFlags byte) (net.Conn, wire.Handshake, Transport, error) {
	encrypt := c.encryptFirst(addr, pexFlags)
	conn, hs, tr, err := c.tryHandshake(ctx, wg, addr, ts, headStart, ours, encrypt)
	if err != nil && c.cfg.Encryption == EncryptionPrefer && ctx.Err() == nil && !errors.Is(err, errDial) {
		// Over the transport the peer accepted: it hung up on the
		// kind of handshake, not on the transport.
		c.log.Debug("handshake failed, trying the other kind", "peer", addr, "encrypted", encrypt, "err", err)
		encrypt = !encrypt
		conn, hs, tr, err = c.tryHandshake(ctx, wg, addr, []Transport{tr}, 0, ours, encrypt)
	}
	if err != nil {
		return nil, hs, tr, err
	}
	if c.cfg.Encryption == EncryptionPrefer {
		c.plaintext.set(addr, !encrypt)
	}
	return conn, hs, tr, nil
}

// tryHandshake opens a connection (see dialHandshake) and reads the
// peer's BitTorrent handshake.
func (c *Client) tryHandshake(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, ts []Transport, headStart time.Duration, ours wire.Handshake, encrypt bool) (net.Conn, wire.Handshake, Transport, error) {
	var hs wire.Handshake
	conn, tr, err := c.dialHandshake(ctx, wg, addr, ts, headStart, ours, encrypt)
	if err != nil {
		return nil, hs, tr, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	hs, err = wire.ReadHandshake(conn)
	if err != nil {
		conn.Close()
		return nil, hs, tr, fmt.Errorf("handshake: %w", err)
	}
	return conn, hs, tr, nil
}

// errDial marks a failure to open a connection at all, after which
// trying again in plaintext is pointless.
var errDial = errors.New("cannot connect")

// dialHandshake opens a connection to addr over ts and sends our
// handshake, inside an encrypted handshake when encrypt is set. tr is the
// transport that connected, also when sending then failed.
func (c *Client) dialHandshake(ctx context.Context, wg *sync.WaitGroup, addr netip.AddrPort, ts []Transport, headStart time.Duration, ours wire.Handshake, encrypt bool) (net.Conn, Transport, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, tr, err := dialFirst(dctx, wg, addr, ts, headStart)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errDial, err)
	}
	if encrypt {
		ec, err := c.encryptOut(ctx, conn, ours)
		if err != nil {
			conn.Close()
			return nil, tr, err
		}
		return ec, tr, nil
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := wire.WriteHandshake(conn, ours); err != nil {
		conn.Close()
		return nil, tr, err
	}
	if !stop() {
		return nil, tr, ctx.Err()
	}
	return conn, tr, nil
}

// without returns ts without tr.
func without(ts []Transport, tr Transport) []Transport {
	out := make([]Transport, 0, len(ts))
	for _, t := range ts {
		if t != tr {
			out = append(out, t)
		}
	}
	return out
}
