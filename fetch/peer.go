package fetch

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/wire"
)

// peer is one connection. Fields under "t.mu" belong to the torrent's
// lock; the output queue has its own lock, always taken after t.mu.
type peer struct {
	t         *Torrent
	conn      net.Conn
	addr      string         // remote address
	key       string         // what a ban applies to
	dialed    netip.AddrPort // candidate address for outgoing connections
	transport string         // the Transport's name: "tcp", "utp"
	id        [20]byte
	fast      bool
	extended  bool
	dht       bool // runs a DHT node: it gets our DHT port (BEP 5)
	done      chan struct{}
	closeErr  error
	once      sync.Once

	downBytes, upBytes atomic.Int64 // payload, for rates
	// writingSince is, while a write is under way, when it last made
	// progress (unix nanos); 0 when no write is under way. The choker
	// reads it to take slots from peers that stopped reading.
	writingSince atomic.Int64
	// wroteAt is when a write last completed (unix nanos).
	wroteAt atomic.Int64
	// resumed: a write made progress again after a probe without any.
	// The peer reads, only slowly: a rate-limited client opens its
	// window in steps seconds apart. It gets longer before it counts as
	// stalled.
	resumed atomic.Bool

	// guarded by t.mu
	bits           wire.Bits
	numHave        int
	seed           bool
	amChoking      bool
	amInterested   bool
	peerChoking    bool
	peerInterested bool
	reqs           map[uint64]int64 // our requests to them: block key -> sequence number in sent
	sent           requestQueue     // our requests to them in the order sent
	desired        int              // pipeline depth we aim for
	rated          bool             // desired follows the measured rate
	// parole: the peer sent part of a piece that failed its hash; it now
	// downloads whole pieces alone, so a second failure proves it lied.
	parole     bool
	reqq       int     // their limit on outstanding requests
	downRate   float64 // bytes/s from them, smoothed
	upRate     float64 // bytes/s to them, smoothed
	lastDown   int64
	lastUp     int64
	lastBlock  time.Time // when they last sent us a block we asked for
	snubs      int       // snub timeouts since the last block
	idleSince  time.Time // since when neither side is interested
	unchokedAt time.Time
	listenAddr netip.AddrPort // from the extended handshake, for incoming peers
	metadataID int            // the peer's ut_metadata message ID; 0 = none
	prefersEnc bool           // its extended handshake said e=1
	pex        peerPEX
	gone       bool

	// upload slot use, guarded by t.mu
	connectedAt time.Time
	lastUpAt    time.Time // when upBytes last grew, seen by the tick
	lastReqAt   time.Time // when they last requested a block
	slotLosses  int       // times it lost an upload slot it did not use

	// pending blocks, owned by the read goroutine
	pending pendingWrite

	// output, guarded by wmu
	wmu      sync.Mutex
	out      []byte
	uploads  []request // their requests to us, in arrival order
	wake     chan struct{}
	lastSent time.Time

	// owed counts their requests not yet answered on the wire (by a
	// block or a reject written to the socket); outAnswers counts the
	// answers in out. An honest peer keeps no more requests outstanding
	// than our reqq, so owed beyond maxOwed is a flood. Guarded by wmu.
	owed       int
	outAnswers int
}

// request is a block request.
type request struct{ index, begin, length uint32 }

const (
	// maxRequestLen is the largest block we serve (BEP 3 clients use 16 KiB).
	maxRequestLen = 128 << 10
	// maxUploadQueue caps their queued requests; we advertise it as reqq.
	maxUploadQueue = 2000
	// initialPipeline is the request depth of a new peer. It grows by one
	// per block received (slow start) until the peer's rate is known;
	// starting deep would hoard blocks on a slow peer.
	initialPipeline = 16
	// minPipeline is the smallest depth, so a slow peer still streams.
	minPipeline = 4
	// maxPipeline caps requests in flight per peer.
	maxPipeline = 2000
	// pipelineSeconds of data in flight keep a fast peer busy.
	pipelineSeconds = 3
	// readBufSize is the socket read buffer: large enough to read many
	// blocks per system call.
	readBufSize = 256 << 10
)

func blockKey(index, begin uint32) uint64 { return uint64(index)<<32 | uint64(begin) }

func newPeer(t *Torrent, conn net.Conn, hs wire.Handshake, dialed netip.AddrPort, transport string) *peer {
	p := &peer{
		t: t, conn: conn, addr: conn.RemoteAddr().String(), dialed: dialed, transport: transport,
		id:          hs.PeerID,
		fast:        hs.Reserved.Fast(),
		extended:    hs.Reserved.Extended(),
		dht:         hs.Reserved.DHT(),
		done:        make(chan struct{}),
		bits:        wire.NewBits(len(t.state)),
		amChoking:   true,
		peerChoking: true,
		reqs:        map[uint64]int64{},
		desired:     initialPipeline,
		reqq:        250, // libtorrent's default until the peer says otherwise
		wake:        make(chan struct{}, 1),
		lastBlock:   time.Now(),
		connectedAt: time.Now(),
	}
	p.key = banKey(conn.RemoteAddr(), dialed, hs.PeerID)
	return p
}

// sendGreeting queues the extended handshake and our bitfield. Called with
// t.mu held.
func (p *peer) sendGreeting() {
	t := p.t
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.extended {
		h := wire.ExtendedHandshake{
			M:    map[string]int{},
			V:    "torfs 0.1",
			P:    int(t.c.announcePortFor(tracker.IPv4)),
			Reqq: maxUploadQueue,
		}
		if a, ok := addrPort(p.conn.RemoteAddr()); ok {
			h.YourIP = string(a.Addr().AsSlice()) // 4 bytes for IPv4 (unmapped)
			if !a.Addr().Unmap().Is4() {
				// Port mapping is IPv4: an IPv6 peer reaches the
				// port we listen on.
				h.P = int(t.c.announcePortFor(tracker.IPv6))
			}
		}
		if t.seeding() {
			h.UploadOnly = 1
		}
		if t.c.cfg.Encryption != EncryptionOff {
			h.E = 1
		}
		if t.servesMetadata() {
			h.M[wire.ExtMetadata] = extMetadataID
			h.MetadataSize = len(t.mi.InfoBytes)
		}
		if t.pexEnabled() {
			h.M[wire.ExtPEX] = extPEXID
		}
		if b, err := h.Encode(); err == nil {
			p.out = wire.AppendExtended(p.out, 0, b)
		}
	}
	switch {
	case p.fast && t.haveCount == 0:
		p.out = wire.AppendSimple(p.out, wire.HaveNone)
	case p.fast && t.seeding():
		p.out = wire.AppendSimple(p.out, wire.HaveAll)
	case t.haveCount > 0:
		bits := wire.NewBits(len(t.state))
		for i, s := range t.state {
			if s == pieceHave {
				bits.Set(i)
			}
		}
		p.out = wire.AppendBitfield(p.out, bits)
	}
	if port, ok := t.dhtPort(p.addr); ok && p.dht {
		p.out = wire.AppendPort(p.out, port)
	}
	p.signal()
}

// queue appends messages to the output. A peer that lets more than
// maxQueuedOut pile up unsent is not reading: it is dropped, before a
// stream of small requests for big answers (ut_metadata) can grow the
// output without bound. Called with p.wmu not held.
func (p *peer) queue(f func(b []byte) []byte) {
	p.wmu.Lock()
	p.out = f(p.out)
	over := len(p.out) > maxQueuedOut
	p.wmu.Unlock()
	if over {
		p.drop(errNotReading)
		return
	}
	p.signal()
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// drop closes the connection for a reason found outside the read loop,
// and says so.
func (p *peer) drop(err error) {
	select {
	case <-p.done: // closed already, and said why there
	default:
		if !errors.Is(err, net.ErrClosed) {
			p.t.log.Debug("peer dropped", "peer", p.addr, "err", err, transportStats(p.conn))
		}
	}
	p.close(err)
}

// transportStats is the state of a connection's transport when it can tell
// (a uTP connection's windows, timers and packet counts, to see why a peer
// stalled); an empty attribute, which slog skips, when it cannot.
func transportStats(c net.Conn) slog.Attr {
	for {
		if lv, ok := c.(slog.LogValuer); ok {
			return slog.Any("transport", lv)
		}
		u, ok := c.(interface{ Unwrap() net.Conn })
		if !ok {
			return slog.Attr{}
		}
		c = u.Unwrap()
	}
}

// close ends the connection once; the read loop then cleans up.
func (p *peer) close(err error) {
	p.once.Do(func() {
		p.closeErr = err
		close(p.done)
		p.conn.Close()
	})
}

// readLoop decodes messages until the connection ends, then removes the
// peer from the torrent.
func (p *peer) readLoop() {
	t := p.t
	defer t.wg.Done()
	dec := wire.NewDecoder(p.conn, readBufSize)
	dec.MaxLength = uint32(max(wire.DefaultMaxMessage, len(p.bits)+16))
	dec.BlockBuffer = p.pending.next
	var m wire.Message
	var deadline time.Time
	var err error
	for {
		// Moving the deadline costs a timer update: do it at most once
		// a second, not once per message.
		if now := time.Now(); now.Sub(deadline) > -idleTimeout+time.Second {
			deadline = now.Add(idleTimeout)
			p.conn.SetReadDeadline(deadline)
		}
		if dec.Buffered() == 0 {
			p.flushWrites() // about to wait for the network
		}
		if err = dec.Decode(&m); err != nil {
			break
		}
		if err = p.handle(&m); err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	select {
	case <-p.done: // we closed it, and said why where we did
	default:
		if err != nil {
			t.log.Debug("peer dropped", "peer", p.addr, "err", err, transportStats(p.conn))
		}
	}
	p.close(err)
	p.flushWrites() // what arrived is good data
	t.removePeer(p)
}

// Bounds of a peer's output: what a peer that does not read can make us
// hold.
const (
	// maxSpareOut is the largest output buffer a peer keeps for reuse.
	maxSpareOut = 1 << 20
	// maxQueuedOut is the most output waiting behind a write in progress.
	maxQueuedOut = 2 << 20
)

// writeLoop sends queued messages and serves upload requests.
func (p *peer) writeLoop() {
	t := p.t
	defer t.wg.Done()
	var spare []byte
	keep := time.NewTicker(keepAliveEvery / 3)
	defer keep.Stop()
	p.lastSent = time.Now()
	for {
		select {
		case <-p.done:
			return
		case <-keep.C:
			if time.Since(p.lastSent) > keepAliveEvery {
				p.queue(wire.AppendKeepAlive)
			}
			continue
		case <-p.wake:
		}
		for {
			p.wmu.Lock()
			out, answers := p.out, p.outAnswers
			p.out, p.outAnswers = spare[:0], 0
			var reqs []request
			if len(out) < 64<<10 {
				// Serve a batch of uploads per write, so one system call
				// carries many blocks, but a bounded one: a peer that
				// does not read holds this buffer until it is dropped.
				n, bytes := 0, 0
				for n < len(p.uploads) && (n == 0 || bytes+int(p.uploads[n].length) <= maxUploadBatch) {
					bytes += int(p.uploads[n].length)
					n++
				}
				reqs = append(reqs, p.uploads[:n]...)
				p.uploads = append(p.uploads[:0], p.uploads[n:]...)
			}
			p.wmu.Unlock()
			if len(reqs) > 0 {
				var err error
				out, err = p.appendBlocks(out, reqs)
				if err != nil {
					p.close(err)
					return
				}
				answers += len(reqs)
			}
			if len(out) > 0 {
				if err := p.write(out); err != nil {
					p.drop(err)
					return
				}
				p.lastSent = time.Now()
			}
			if answers > 0 {
				// Written, or dropped without a trace (BEP 3).
				p.wmu.Lock()
				p.owed -= answers
				p.wmu.Unlock()
			}
			if len(out) == 0 {
				spare = out
				break
			}
			// Keep the larger buffer for reuse but drop a huge one.
			if cap(out) <= maxSpareOut {
				spare = out[:0]
			} else {
				spare = nil
			}
		}
	}
}

// write sends b. It gives up when the peer accepts nothing for the write
// timeout, and records its progress in writingSince meanwhile. Progress is
// bytes the socket takes, or bytes the peer acknowledges: a slow link
// frees room in the socket only in large steps, but its ACKs come every
// round trip.
func (p *peer) write(b []byte) error {
	cfg := &p.t.c.cfg
	// Short deadlines let the loop see partial progress: a slow peer that
	// reads keeps its connection, one that stopped reading does not.
	probe := min(time.Second, cfg.stallAfter/4)
	last := time.Now()
	p.writingSince.Store(last.UnixNano())
	defer p.writingSince.Store(0)
	queued, known, paused := -1, false, false
	for {
		p.conn.SetWriteDeadline(time.Now().Add(probe))
		n, err := p.conn.Write(b)
		if err == nil {
			if paused && n > 0 {
				p.resumed.Store(true)
			}
			p.wroteAt.Store(time.Now().UnixNano())
			return nil
		}
		b = b[n:]
		now := time.Now()
		q, ok := unacked(p.conn)
		progress := n > 0 || (ok && known && q < queued)
		if progress {
			if paused {
				p.resumed.Store(true)
			}
			last = now
			p.writingSince.Store(now.UnixNano())
		}
		queued, known, paused = q, ok, !progress
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if now.Sub(last) >= cfg.writeTimeout {
			return errWriteTimeout
		}
	}
}

// writeStalled reports whether a write to the peer has made no progress
// for the stall time: the peer is not reading what we send.
func (p *peer) writeStalled(now time.Time) bool {
	since := p.writingSince.Load()
	return since != 0 && now.UnixNano()-since > int64(p.stallLimit())
}

// stallLimit is how long the peer may make no progress before it counts
// as not reading: longer for a peer that resumed reading before.
func (p *peer) stallLimit() time.Duration {
	if p.resumed.Load() {
		return slowStallFactor * p.t.c.cfg.stallAfter
	}
	return p.t.c.cfg.stallAfter
}

// unread reports whether what we wrote the stall time ago or earlier is
// still not acknowledged, though no write waits: the peer stopped
// reading (a choked peer's socket keeps what it did not read).
func (p *peer) unread(now time.Time) bool {
	at := p.wroteAt.Load()
	if p.writingSince.Load() != 0 || at == 0 || now.UnixNano()-at < int64(p.stallLimit()) {
		return false
	}
	n, ok := unacked(p.conn)
	return ok && n > 0
}

type writeTimeoutError struct{}

func (writeTimeoutError) Error() string { return "peer stopped reading what we send" }

var errWriteTimeout error = writeTimeoutError{}

type notReadingError struct{}

func (notReadingError) Error() string {
	return fmt.Sprintf("peer let over %d bytes of our messages pile up unread", maxQueuedOut)
}

var errNotReading error = notReadingError{}
