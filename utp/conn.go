package utp

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

const (
	// packetSize is the largest datagram we send; BEP 29 suggests staying
	// under the common path MTU.
	packetSize = 1400
	mss        = packetSize - headerLen
	// loopbackDatagram is the datagram size between two torfs peers on a
	// loopback address (negotiated by extMaxDatagram): loopback has no MTU
	// to fit and each datagram costs a system call at both ends.
	loopbackDatagram = 32 << 10
	// sendBufSize and recvBufSize bound the bytes a connection holds
	// unacknowledged and unread; recvBufSize is also the window we
	// advertise.
	sendBufSize = 4 << 20
	recvBufSize = 4 << 20
	// oooSlots bounds how far past a gap we keep packets.
	oooSlots = 4096
	// keepaliveInterval keeps NAT mappings open on an idle connection.
	keepaliveInterval = 29 * time.Second
	// idleTimeout ends a connection that has heard nothing at all, not even
	// a keepalive, for this long.
	idleTimeout = 5 * time.Minute
	// maxTimeouts consecutive retransmission timeouts end a connection:
	// about 30 s from the 500 ms floor. libtorrent drops a connection
	// after a packet's third unacked sending without telling the peer
	// (its packets to a gone connection are ignored), so waiting longer
	// only holds a dead peer; libutp gives up after four.
	maxTimeouts = 5
	// synTimeouts is the same for a SYN: a peer that never answers.
	synTimeouts = 3
	// lingerTimeout bounds how long a closed connection waits for its FIN
	// to be acked.
	lingerTimeout = 30 * time.Second
	// timeWait is how long a connection closed in both directions still
	// answers a resent FIN.
	timeWait = 3 * time.Second
)

type connState int

const (
	stateSynSent connState = iota
	stateConnected
	stateDone // failed or fully closed; removed from the socket
)

// outPacket is a sent, unacknowledged packet; its payload is
// [off, off+n) of the connection's byte stream.
type outPacket struct {
	seq        uint16
	typ        byte
	off        int64
	n          int
	sentAt     time.Time
	tx         uint64 // the connection's count of transmissions at the last one
	sends      int
	sacked     bool
	needResend bool
	fastResent bool
}

type oooPacket struct {
	present bool
	fin     bool
	data    []byte
}

// Conn is a uTP connection. It is a net.Conn; Close sends a FIN after the
// unsent data and returns at once.
type Conn struct {
	s              *Socket
	remote         netip.AddrPort
	recvID, sendID uint16

	mu    sync.Mutex
	cond  sync.Cond
	state connState
	err   error // why the connection ended, for Read and Write

	// Sending. sendQ holds the stream from offset sendStart (the bytes
	// acknowledged); up to sent they are in packets.
	seqNr     uint16
	sendQ     byteRing
	sendStart int64
	sent      int64
	inflight  ring
	flightLen int // bytes in packets neither acked, sacked nor due a resend
	peerWnd   int
	closing   bool // Close called: FIN after the data
	finSent   bool
	finAcked  bool
	closedAt  time.Time
	timeWait  time.Time // when a connection closed both ways is dropped
	lastAck   uint16
	dupAcks   int
	recoverTo uint16 // no new loss response until this is acked
	inRecover bool
	// txCount numbers every transmission of a data packet; deliveredTx is
	// the highest number of one known to have arrived (acked or
	// selectively acked). A packet whose last transmission is
	// lostAfter or more below it is taken for lost, be it a first
	// sending or a resend.
	txCount     uint64
	deliveredTx uint64

	// Receiving.
	ackNr     uint16   // last in-order sequence number
	readQ     byteRing // in order, not read yet
	ooo       []oooPacket
	oooBytes  int
	oooLast   uint16 // highest sequence number held past a gap
	gotFin    bool   // all data up to the peer's FIN is in readQ
	finSeq    uint16
	haveFin   bool
	replyDiff uint32 // our receive time minus the peer's timestamp
	ackOwed   bool
	ackQueued bool
	unacked   int // in-order data packets since our last ack
	wndShut   bool
	// rebind: we dialed and have received no data yet, so a SYN-ACK with
	// another sequence number may still replace the first (see receive).
	rebind bool

	cc       ledbat
	rtt      rttEstimator
	rtoAt    time.Time
	rto      time.Duration
	timeouts int
	lastSend time.Time
	lastRecv time.Time

	readDeadline, writeDeadline time.Time
	readTimer, writeTimer       *time.Timer

	stats Stats
	// limitedBy is the window sending waits for since limitedAt:
	// limitNone, limitCwnd or limitPeer.
	limitedBy int
	limitedAt time.Time

	payload int // bytes of stream in a full packet
	scratch []byte
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *Socket, remote netip.AddrPort, recvID, sendID uint16) *Conn {
	c := &Conn{
		s: s, remote: remote, recvID: recvID, sendID: sendID,
		peerWnd: packetSize, cc: newLedbat(mss), rto: initialRTO,
		payload: mss, scratch: make([]byte, 0, packetSize+64),
	}
	c.cond.L = &c.mu
	now := time.Now()
	c.lastRecv, c.lastSend = now, now
	return c
}

// Stats counts a connection's packets and, for diagnosis, holds a snapshot
// of its windows and timers.
type Stats struct {
	PacketsSent, PacketsReceived int64
	Resent                       int64 // packets sent again, any cause
	FastResent                   int64 // after duplicate or selective acks
	Timeouts                     int64 // retransmission timeouts
	DupAcks                      int64 // acks that acknowledged nothing new
	SlowStartExits               int64 // times slow start ended
	// CwndLimited and PeerWindowLimited are how long data waited to be
	// sent for the congestion window and for the peer's receive window.
	CwndLimited, PeerWindowLimited time.Duration

	// The state when Stats was called.
	InFlight   int           // packets sent and not acknowledged
	Unsent     int           // bytes written and not sent yet
	CWND       int           // congestion window, bytes
	PeerWindow int           // receive window the peer advertised, bytes
	Window     int           // receive window we advertise, bytes
	Unread     int           // bytes received in order that Read has not taken
	OutOfOrder int           // bytes held past a gap
	RTO        time.Duration // retransmission timeout
	SinceRecv  time.Duration // since the last packet from the peer
}

// Stats returns the connection's counters so far.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshot(time.Now())
}

func (c *Conn) snapshot(now time.Time) Stats {
	st := c.stats
	st.SlowStartExits = c.cc.slowStartExits
	c.addLimited(&st, now)
	st.InFlight = c.inflight.len()
	st.Unsent = int(c.sendStart + int64(c.sendQ.len()) - c.sent)
	st.CWND = c.cc.window()
	st.PeerWindow = c.peerWnd
	st.Window = c.window()
	st.Unread = c.readQ.len()
	st.OutOfOrder = c.oooBytes
	st.RTO = c.rto
	st.SinceRecv = now.Sub(c.lastRecv)
	return st
}

// LogValue is the connection's Stats as a log group, so that a user of the
// connection can log why it stalled (torfs -v does when a peer goes).
func (c *Conn) LogValue() slog.Value { return c.Stats().LogValue() }

// LogValue is st as a log group.
func (st Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("sent", st.PacketsSent), slog.Int64("received", st.PacketsReceived),
		slog.Int64("resent", st.Resent), slog.Int64("fast_resent", st.FastResent),
		slog.Int64("timeouts", st.Timeouts), slog.Int64("dup_acks", st.DupAcks),
		slog.Int64("slow_start_exits", st.SlowStartExits),
		slog.Duration("cwnd_limited", st.CwndLimited), slog.Duration("peer_window_limited", st.PeerWindowLimited),
		slog.Int("in_flight", st.InFlight),
		slog.Int("unsent", st.Unsent), slog.Int("cwnd", st.CWND),
		slog.Int("peer_window", st.PeerWindow), slog.Int("window", st.Window),
		slog.Int("unread", st.Unread), slog.Int("out_of_order", st.OutOfOrder),
		slog.Duration("rto", st.RTO), slog.Duration("since_recv", st.SinceRecv),
	)
}

// LocalAddr is the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.s.Addr() }

// RemoteAddr is the peer's UDP address, a *net.UDPAddr.
func (c *Conn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.remote) }

// Read reads in-order stream bytes; io.EOF after the peer's FIN.
func (c *Conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.readQ.len() > 0 {
			n := c.readQ.read(b)
			if c.wndShut && c.window() >= recvBufSize/4 {
				c.wndShut = false
				c.sendState(time.Now()) // reopen the window
			}
			return n, nil
		}
		switch {
		case c.gotFin:
			return 0, io.EOF
		case c.closing:
			return 0, net.ErrClosed
		case c.err != nil:
			return 0, c.err
		case len(b) == 0:
			return 0, nil
		case !c.readDeadline.IsZero() && !time.Now().Before(c.readDeadline):
			return 0, os.ErrDeadlineExceeded
		}
		c.cond.Wait()
	}
}

// Write queues b and sends what the windows allow.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for len(b) > 0 {
		switch {
		case c.closing:
			return n, net.ErrClosed
		case c.err != nil:
			return n, c.err
		case !c.writeDeadline.IsZero() && !time.Now().Before(c.writeDeadline):
			return n, os.ErrDeadlineExceeded
		}
		space := sendBufSize - c.sendQ.len()
		if space <= 0 {
			c.cond.Wait()
			continue
		}
		m := min(space, len(b))
		c.sendQ.write(b[:m])
		b = b[m:]
		n += m
		c.flush(time.Now())
	}
	return n, nil
}

// Close sends a FIN after the data already written and returns; the
// socket keeps the connection until the FIN is acked or lingerTimeout.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil
	}
	c.closing = true
	c.closedAt = time.Now()
	if c.err == nil && c.state == stateConnected {
		c.flush(c.closedAt)
	} else {
		c.fail(net.ErrClosed)
	}
	c.cond.Broadcast()
	return nil
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	c.readTimer = c.armDeadline(c.readTimer, t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeDeadline = t
	c.writeTimer = c.armDeadline(c.writeTimer, t)
	return nil
}

func (c *Conn) armDeadline(tm *time.Timer, t time.Time) *time.Timer {
	if tm != nil {
		tm.Stop()
	}
	if t.IsZero() {
		return tm
	}
	wake := func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	}
	if tm == nil {
		return time.AfterFunc(time.Until(t), wake)
	}
	tm.Reset(time.Until(t))
	return tm
}

// fail ends the connection with err (the first reason wins) and removes it
// from the socket.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	if c.state != stateDone {
		c.state = stateDone
		c.s.remove(c)
		c.s.logClosed(c, err)
	}
	c.cond.Broadcast()
}

// window is the receive window we advertise.
func (c *Conn) window() int {
	return max(recvBufSize-c.readQ.len()-c.oooBytes, 0)
}

func (c *Conn) header(typ byte, seq uint16, now time.Time) header {
	id := c.sendID
	if typ == stSyn {
		id = c.recvID
	}
	wnd := c.window()
	if wnd < packetSize {
		c.wndShut = true
	}
	h := header{typ: typ, connID: id, timestamp: micros(now), tsDiff: c.replyDiff,
		wnd: uint32(wnd), seq: seq, ack: c.ackNr}
	if (typ == stSyn || typ == stState) && c.remote.Addr().IsLoopback() {
		h.maxDatagram = loopbackDatagram
	}
	return h
}

// transmit sends packet p (first send or resend).
func (c *Conn) transmit(p *outPacket, now time.Time) {
	h := c.header(p.typ, p.seq, now)
	b := h.append(c.scratch[:0])
	if p.n > 0 {
		n := len(b)
		b = b[:n+p.n]
		c.sendQ.peek(b[n:], int(p.off-c.sendStart))
	}
	p.sentAt = now
	c.txCount++
	p.tx = c.txCount
	p.sends++
	if p.sends > 1 {
		c.stats.Resent++
	}
	c.send(b, now)
	if c.inflight.len() == 1 || c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.rto)
	}
}

func (c *Conn) send(b []byte, now time.Time) {
	c.lastSend = now
	c.stats.PacketsSent++
	c.ackOwed, c.unacked = false, 0
	c.s.send(b, c.remote)
}

// sendState sends an ack, with a selective ack when packets past a gap are
// held.
func (c *Conn) sendState(now time.Time) {
	seq := c.seqNr
	if c.finSent {
		// libtorrent drops packets numbered past a FIN: our acks carry
		// the FIN's number once it is sent.
		seq--
	}
	h := c.header(stState, seq, now)
	if c.oooBytes > 0 {
		for i := range min(maxSACKBytes*8, int(c.oooLast-c.ackNr-1)) {
			slot := &c.ooo[int(c.ackNr+2+uint16(i))%oooSlots]
			if slot.present {
				h.sack[i/8] |= 1 << (i % 8)
				h.nSACK = (i/32 + 1) * 4
			}
		}
	}
	c.send(h.append(c.scratch[:0]), now)
}

// synSeq is the sequence number of the SYNs we send.
const synSeq = 1

func (c *Conn) sendSyn(now time.Time) {
	c.seqNr = synSeq
	p := c.inflight.push()
	*p = outPacket{seq: c.seqNr, typ: stSyn}
	c.seqNr++
	c.transmit(p, now)
}

// flush sends resends due and new data while the congestion window and
// the peer's receive window allow, then the FIN once everything is sent.
func (c *Conn) flush(now time.Time) {
	if c.state != stateConnected {
		return
	}
	limit := min(c.cc.window(), c.peerWnd)
	for i := range c.inflight.len() {
		p := c.inflight.at(i)
		if !p.needResend {
			continue
		}
		if c.flightLen+p.n > limit && c.flightLen > 0 {
			c.limited(now)
			return
		}
		p.needResend = false
		c.flightLen += p.n
		c.transmit(p, now)
	}
	for c.sent < c.sendStart+int64(c.sendQ.len()) {
		n := int(min(int64(c.payload), c.sendStart+int64(c.sendQ.len())-c.sent))
		if c.flightLen+n > limit && c.flightLen > 0 {
			c.limited(now)
			return
		}
		p := c.inflight.push()
		*p = outPacket{seq: c.seqNr, typ: stData, off: c.sent, n: n}
		c.seqNr++
		c.sent += int64(n)
		c.flightLen += n
		c.transmit(p, now)
	}
	c.setLimited(now, limitNone)
	if c.closing && !c.finSent {
		c.finSent = true
		p := c.inflight.push()
		*p = outPacket{seq: c.seqNr, typ: stFin, off: c.sent}
		c.seqNr++
		c.transmit(p, now)
	}
}

// What sending waits for (Conn.limitedBy).
const (
	limitNone = iota
	limitCwnd
	limitPeer
)

// limited records that data waits for a window: the smaller one.
func (c *Conn) limited(now time.Time) {
	if c.cc.window() <= c.peerWnd {
		c.setLimited(now, limitCwnd)
	} else {
		c.setLimited(now, limitPeer)
	}
}

func (c *Conn) setLimited(now time.Time, by int) {
	if by == c.limitedBy {
		return
	}
	c.addLimited(&c.stats, now)
	c.limitedBy, c.limitedAt = by, now
}

// addLimited adds to st the time since the current limit began.
func (c *Conn) addLimited(st *Stats, now time.Time) {
	switch c.limitedBy {
	case limitCwnd:
		st.CwndLimited += now.Sub(c.limitedAt)
	case limitPeer:
		st.PeerWindowLimited += now.Sub(c.limitedAt)
	}
}

// receive handles one packet for this connection.
func (c *Conn) receive(h *header, payload []byte, now time.Time) {
	if c.state == stateDone {
		return
	}
	c.lastRecv = now
	c.stats.PacketsReceived++
	c.replyDiff = micros(now) - h.timestamp
	switch h.typ {
	case stReset:
		c.fail(syscall.ECONNRESET)
		return
	case stSyn:
		c.ackOwed = true // a resent SYN: our ack was lost
		return
	}
	c.peerWnd = int(h.wnd)
	c.usePeerDatagram(h)
	if c.state == stateSynSent {
		if h.typ != stState {
			return
		}
		c.state = stateConnected
		c.ackNr = h.seq - 1
		c.rebind = true
		c.cond.Broadcast()
	} else if c.rebind && h.typ == stState && h.ack == synSeq && h.seq != c.ackNr+1 {
		// libtorrent answers a resent SYN (its ack came late) with a
		// second connection and its own SYN-ACK, and from then on routes
		// our packets to that one, which drops those whose ack is not
		// in its sequence space: follow the last SYN-ACK until data
		// comes.
		c.ackNr = h.seq - 1
	}
	if h.tsDiff != 0 {
		c.cc.sample(h.tsDiff, now)
	}
	c.processAck(h, now)
	if h.typ == stData || h.typ == stFin {
		c.receiveData(h, payload, now)
	}
	c.flush(now)
	c.maybeFinished(now)
}

// usePeerDatagram raises the packet size to what a loopback peer said it
// accepts.
func (c *Conn) usePeerDatagram(h *header) {
	if h.maxDatagram == 0 || !c.remote.Addr().IsLoopback() {
		return
	}
	size := int(min(h.maxDatagram, loopbackDatagram))
	if p := size - headerLen; p > c.payload {
		c.payload = p
		c.scratch = make([]byte, 0, size+64)
	}
}

func (c *Conn) processAck(h *header, now time.Time) {
	ackedBytes := 0
	progressed := false
	acked := c.sendStart
	for c.inflight.len() > 0 {
		p := c.inflight.at(0)
		if seqLess(h.ack, p.seq) {
			break
		}
		progressed = true
		if !p.sacked && !p.needResend {
			c.flightLen -= p.n
		}
		if !p.sacked {
			ackedBytes += p.n
			c.deliveredTx = max(c.deliveredTx, p.tx)
		}
		if p.sends == 1 {
			c.rtt.sample(now.Sub(p.sentAt))
			c.rto = c.rtt.rto()
		}
		if p.typ == stFin {
			c.finAcked = true
		}
		acked = p.off + int64(p.n)
		c.inflight.pop()
	}
	if acked > c.sendStart {
		c.sendQ.discard(int(acked - c.sendStart))
		c.sendStart = acked
	}
	if h.nSACK > 0 && c.inflight.len() > 0 {
		ackedBytes += c.applySACK(h, now)
	}
	if progressed {
		c.timeouts = 0
		c.dupAcks = 0
		c.lastAck = h.ack
		if c.inflight.len() > 0 {
			c.rtoAt = now.Add(c.rto)
		} else {
			c.rtoAt = time.Time{}
		}
		if c.inRecover && !seqLess(h.ack, c.recoverTo) {
			c.inRecover = false
		}
		c.cond.Broadcast() // room in the send buffer
	} else if h.typ == stState && h.ack == c.lastAck && c.inflight.len() > 0 {
		c.stats.DupAcks++
		c.dupAcks++
		if p := c.inflight.at(0); c.dupAcks == lostAfter && !p.fastResent {
			c.lost(p, now)
		}
	}
	c.cc.onAck(ackedBytes, c.limitedBy == limitCwnd)
}

// lostAfter is how many later transmissions must arrive before a packet
// is taken for lost: three, as TCP's duplicate acks, so that a little
// reordering does not resend.
const lostAfter = 3

// applySACK marks the packets the peer holds past its gap and resends
// those that lostAfter later transmissions overtook, a resend among them:
// a resend lost again is sent again at once instead of after a
// retransmission timeout, which stalled the connection (the packets past
// the gap soon outrun what a selective ack can say, and the window fills
// with them). It returns the newly sacked bytes.
func (c *Conn) applySACK(h *header, now time.Time) int {
	bytes := 0
	// Packets are in sequence order from inflight.at(0) = first unacked,
	// whose seq is h.ack+1 when nothing else was lost.
	for i := range c.inflight.len() {
		p := c.inflight.at(i)
		bit := int(p.seq-h.ack) - 2
		if bit >= h.nSACK*8 {
			break
		}
		if bit >= 0 && h.sack[bit/8]&(1<<(bit%8)) != 0 && !p.sacked {
			p.sacked = true
			if !p.needResend {
				c.flightLen -= p.n
			}
			p.needResend = false
			bytes += p.n
			c.deliveredTx = max(c.deliveredTx, p.tx)
		}
	}
	// Only packets the bitmask covers: those past it may have arrived.
	for i := range c.inflight.len() {
		p := c.inflight.at(i)
		if int(p.seq-h.ack)-2 >= h.nSACK*8 {
			break
		}
		if !p.sacked && !p.needResend && p.tx+lostAfter <= c.deliveredTx {
			c.lost(p, now)
		}
	}
	return bytes
}

// lost resends p at once and tells the congestion controller, which
// reacts at most once per window of data (a loss episode).
func (c *Conn) lost(p *outPacket, now time.Time) {
	if p.sacked {
		return
	}
	p.fastResent = true
	c.stats.FastResent++
	newEpisode := !c.inRecover
	if newEpisode {
		c.inRecover = true
		c.recoverTo = c.seqNr - 1
	}
	c.cc.onLoss(p.n, newEpisode)
	if p.needResend {
		p.needResend = false
		c.flightLen += p.n
	}
	c.transmit(p, now)
}

func (c *Conn) receiveData(h *header, payload []byte, now time.Time) {
	if c.gotFin && h.typ == stData {
		return
	}
	if held := c.readQ.len() + c.oooBytes; held+len(payload) > recvBufSize+loopbackDatagram {
		// Past the window we advertised (and a datagram of slack for
		// one in flight): a peer ignoring it would grow our buffers
		// without bound. Dropped; a well-behaved peer sends it again.
		c.sendState(now)
		return
	}
	next := c.ackNr + 1
	switch {
	case h.seq == next:
		c.deliver(h.typ == stFin, payload)
		for c.oooBytes > 0 || c.haveFin {
			slot := &c.ooo[int(c.ackNr+1)%oooSlots]
			if !slot.present {
				break
			}
			slot.present = false
			c.oooBytes -= len(slot.data)
			c.deliver(slot.fin, slot.data)
			if cap(slot.data) > 2*packetSize {
				slot.data = nil // a big datagram's buffer is not kept for 4096 slots
			}
			if slot.fin {
				break
			}
		}
		c.unacked++
		if c.unacked >= 2 || c.oooBytes > 0 || c.gotFin {
			c.sendState(now)
		} else {
			c.ackOwed = true // deferred until the socket drains
		}
	case seqLess(next, h.seq) && int(h.seq-next) < oooSlots:
		if c.ooo == nil {
			c.ooo = make([]oooPacket, oooSlots)
		}
		slot := &c.ooo[int(h.seq)%oooSlots]
		if !slot.present {
			slot.present, slot.fin = true, h.typ == stFin
			slot.data = append(slot.data[:0], payload...)
			c.oooBytes += len(payload)
			if c.oooBytes == len(payload) || seqLess(c.oooLast, h.seq) {
				c.oooLast = h.seq
			}
			if slot.fin {
				c.haveFin = true
			}
		}
		c.sendState(now) // an immediate selective ack
	default:
		c.sendState(now) // a duplicate: our ack was lost
	}
}

func (c *Conn) deliver(fin bool, data []byte) {
	c.ackNr++
	c.rebind = false
	if fin {
		c.gotFin = true
		c.cond.Broadcast()
		return
	}
	if len(data) == 0 {
		return
	}
	if c.closing {
		return // nobody will read it
	}
	c.readQ.write(data)
	c.cond.Broadcast()
}

// maybeFinished starts the wait before a connection whose FINs both went
// through is dropped: meanwhile a resent FIN, whose ack was lost, is
// acked again rather than answered with a reset.
func (c *Conn) maybeFinished(now time.Time) {
	if c.closing && c.finAcked && c.gotFin && c.timeWait.IsZero() {
		c.timeWait = now.Add(timeWait)
	}
}

// tick runs the connection's timers; the socket calls it every
// tickInterval.
func (c *Conn) tick(now time.Time) {
	if c.state == stateDone {
		return
	}
	if c.closing && (now.Sub(c.closedAt) > lingerTimeout || !c.timeWait.IsZero() && now.After(c.timeWait)) {
		c.fail(net.ErrClosed)
		return
	}
	if c.inflight.len() > 0 && !c.rtoAt.IsZero() && !now.Before(c.rtoAt) {
		c.timeouts++
		c.stats.Timeouts++
		if c.state == stateSynSent && c.timeouts >= synTimeouts || c.timeouts > maxTimeouts {
			c.fail(os.ErrDeadlineExceeded)
			return
		}
		c.rto = min(2*c.rto, maxRTO)
		if c.state == stateSynSent {
			c.transmit(c.inflight.at(0), now)
			c.rtoAt = now.Add(c.rto)
			return
		}
		c.cc.onTimeout()
		// The packets in flight now are resent as one episode: their
		// losses were answered by the timeout.
		c.inRecover, c.recoverTo = true, c.seqNr-1
		for i := range c.inflight.len() {
			p := c.inflight.at(i)
			if !p.sacked && !p.needResend {
				p.needResend = true
				p.fastResent = false
				c.flightLen -= p.n
			}
		}
		c.rtoAt = now.Add(c.rto)
		// A FIN or a zero-window probe may have no bytes: resend the
		// first packet even when the windows are shut.
		first := c.inflight.at(0)
		if !first.sacked {
			first.needResend = false
			c.flightLen += first.n
			c.transmit(first, now)
		}
		c.flush(now)
		return
	}
	if now.Sub(c.lastRecv) > idleTimeout {
		c.fail(os.ErrDeadlineExceeded)
		return
	}
	if c.state == stateConnected && now.Sub(c.lastSend) >= keepaliveInterval {
		c.sendState(now)
	}
}
