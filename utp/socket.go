package utp

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tickInterval is the granularity of every timer of every connection of a
// socket: retransmission, keepalive, linger. One ticker per socket, none
// per packet.
const tickInterval = 50 * time.Millisecond

// acceptBacklog is how many connections may wait for Accept.
const acceptBacklog = 32

// Socket is one UDP socket carrying uTP connections in both directions and,
// on the same port, datagrams of other protocols (the DHT's KRPC messages),
// which it hands to PacketConn.
type Socket struct {
	udp *net.UDPConn
	raw syscall.RawConn

	mu     sync.Mutex
	conns  map[connKey]*Conn
	closed bool

	accept chan *Conn
	other  *packetConn
	// split, once PacketConns was called, takes the non-uTP datagrams of
	// IPv4 and IPv6 senders instead of other.
	split     atomic.Pointer[[2]*packetConn]
	splitOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
	closeMu   sync.Once

	// drop, in tests, loses outgoing datagrams it returns true for.
	drop func([]byte) bool

	// log, when set, gets a debug line with a connection's Stats when
	// it ends.
	log *slog.Logger

	// ackDue lists connections owing an ack; the read loop sends them when
	// the socket has no more packets queued (libutp's deferred acks).
	ackDue []*Conn
}

type connKey struct {
	addr   netip.AddrPort
	recvID uint16
}

var _ net.Listener = (*Socket)(nil)

// Listen opens a UDP socket at addr (port 0 picks one) for uTP.
func Listen(addr netip.AddrPort) (*Socket, error) { return listen(addr, nil) }

func listen(addr netip.AddrPort, drop func([]byte) bool) (*Socket, error) {
	s, err := newSocket(addr, drop)
	if err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.tickLoop()
	return s, nil
}

// newSocket is a Socket whose read loop and ticker are not started yet.
func newSocket(addr netip.AddrPort, drop func([]byte) bool) (*Socket, error) {
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("utp: listening on %s: %w", addr, err)
	}
	// Bigger kernel buffers: loopback bursts overflow the default ones.
	_ = udp.SetReadBuffer(4 << 20)
	_ = udp.SetWriteBuffer(4 << 20)
	raw, err := udp.SyscallConn()
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("utp: %w", err)
	}
	s := &Socket{
		udp:    udp,
		raw:    raw,
		conns:  make(map[connKey]*Conn),
		accept: make(chan *Conn, acceptBacklog),
		done:   make(chan struct{}),
		drop:   drop,
	}
	s.other = newPacketConn(s)
	return s, nil
}

// AddrPort is the socket's local address.
func (s *Socket) AddrPort() netip.AddrPort {
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Addr is the socket's local address, a *net.UDPAddr.
func (s *Socket) Addr() net.Addr { return s.udp.LocalAddr() }

// PacketConn gives the datagrams of the socket that are not uTP (the
// first byte of a KRPC message is 'd') and sends datagrams from the same
// port. Its Close does not close the socket.
func (s *Socket) PacketConn() net.PacketConn { return s.other }

// PacketConns splits the datagrams of PacketConn by the sender's family:
// from the call on, those of IPv4 senders go to v4 and those of IPv6
// senders to v6, none to PacketConn. A socket on every address of both
// families thus carries an IPv4 and an IPv6 DHT node (BEP 32) on one port.
// Later calls return the same two.
func (s *Socket) PacketConns() (v4, v6 net.PacketConn) {
	s.splitOnce.Do(func() {
		p4, p6 := newPacketConn(s), newPacketConn(s)
		if a := s.AddrPort(); a.Addr().IsUnspecified() {
			p4.local = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv4Unspecified(), a.Port()))
		}
		s.split.Store(&[2]*packetConn{p4, p6})
	})
	sp := s.split.Load()
	return sp[0], sp[1]
}

// Accept waits for the next incoming uTP connection.
func (s *Socket) Accept() (net.Conn, error) {
	select {
	case c := <-s.accept:
		return c, nil
	case <-s.done:
		return nil, fmt.Errorf("utp: accept: %w", net.ErrClosed)
	}
}

// Dial opens a uTP connection to addr; ctx bounds the handshake.
func (s *Socket) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", addr, net.ErrClosed)
	}
	var id uint16
	for {
		id = uint16(rand.Uint32())
		_, a := s.conns[connKey{addr, id}]
		_, b := s.conns[connKey{addr, id + 1}]
		if !a && !b {
			break
		}
	}
	c := newConn(s, addr, id, id+1)
	s.conns[connKey{addr, id}] = c
	s.mu.Unlock()

	c.mu.Lock()
	c.sendSyn(time.Now())
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	for c.state == stateSynSent && c.err == nil && ctx.Err() == nil {
		c.cond.Wait()
	}
	err := c.err
	if err == nil && c.state == stateSynSent {
		err = ctx.Err()
		c.fail(err)
	}
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("utp: dial %s: %w", addr, err)
	}
	return c, nil
}

// Close closes the socket and every connection on it at once, without
// waiting for unsent data.
func (s *Socket) Close() error {
	s.closeMu.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.mu.Lock()
			c.fail(net.ErrClosed)
			c.mu.Unlock()
		}
		close(s.done)
		s.udp.Close()
		s.wg.Wait()
	})
	return nil
}

// SetLogger makes the socket log, at debug level, every connection's
// Stats when it ends ("utp connection closed"), so that a transfer's
// retransmissions and stalls can be read after it. nil stops it.
func (s *Socket) SetLogger(l *slog.Logger) {
	s.mu.Lock()
	s.log = l
	s.mu.Unlock()
}

// logClosed logs c's Stats as it ends with err; c.mu is held.
func (s *Socket) logClosed(c *Conn, err error) {
	s.mu.Lock()
	log := s.log
	s.mu.Unlock()
	if log != nil {
		log.Debug("utp connection closed", "peer", c.remote, "err", err, "stats", c.snapshot(time.Now()))
	}
}

func (s *Socket) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[connKey{c.remote, c.recvID}] == c {
		delete(s.conns, connKey{c.remote, c.recvID})
	}
	s.mu.Unlock()
}

// send writes one datagram; loss is uTP's to handle, so errors other than
// a closed socket are dropped.
func (s *Socket) send(b []byte, to netip.AddrPort) {
	if s.drop != nil && s.drop(b) {
		return
	}
	_, _ = s.udp.WriteToUDPAddrPort(b, to)
}

func (s *Socket) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	var (
		n    int
		from netip.AddrPort
		rerr error
	)
	// recv reads without blocking; when nothing is queued it sends the
	// deferred acks and lets the runtime park the goroutine until the
	// socket is readable.
	recv := func(fd uintptr) bool {
		var rsa unix.RawSockaddrAny
		alen := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&alen)))
		switch e {
		case 0:
			n, from, rerr = int(r), sockaddrToAddrPort(&rsa), nil
			return true
		case unix.EAGAIN:
			s.flushAcks()
			return false
		default:
			n, rerr = 0, e
			return true
		}
	}
	for {
		if err := s.raw.Read(recv); err != nil {
			return // closed
		}
		if rerr != nil {
			continue // e.g. ECONNREFUSED from an ICMP error
		}
		s.dispatch(buf[:n], from, time.Now())
	}
}

// dispatch hands a datagram to its uTP connection, or, when it is not
// uTP (a DHT message), to the PacketConn.
func (s *Socket) dispatch(b []byte, from netip.AddrPort, now time.Time) {
	if !isUTP(b) {
		switch sp := s.split.Load(); {
		case sp == nil:
			s.other.deliver(b, from)
		case from.Addr().Is4():
			sp[0].deliver(b, from)
		default:
			sp[1].deliver(b, from)
		}
		return
	}
	s.handle(b, from, now)
}

func sockaddrToAddrPort(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

func (s *Socket) flushAcks() {
	for i, c := range s.ackDue {
		c.mu.Lock()
		c.ackQueued = false
		if c.ackOwed {
			c.sendState(time.Now())
		}
		c.mu.Unlock()
		s.ackDue[i] = nil
	}
	s.ackDue = s.ackDue[:0]
}

func (s *Socket) handle(b []byte, from netip.AddrPort, now time.Time) {
	var h header
	payload, err := h.parse(b)
	if err != nil {
		return
	}
	s.mu.Lock()
	c := s.conns[connKey{from, h.connID}]
	if c == nil && h.typ == stSyn {
		c = s.conns[connKey{from, h.connID + 1}]
		if c == nil {
			c = s.acceptSyn(&h, from)
		}
	}
	s.mu.Unlock()
	if c == nil {
		if h.typ != stReset && h.typ != stSyn {
			s.sendReset(&h, from, now)
		}
		return
	}
	c.mu.Lock()
	c.receive(&h, payload, now)
	if c.ackOwed && !c.ackQueued {
		c.ackQueued = true
		s.ackDue = append(s.ackDue, c)
	}
	c.mu.Unlock()
}

// acceptSyn makes the connection for a new SYN; s.mu is held. A full
// backlog drops the SYN, which the peer will retry.
func (s *Socket) acceptSyn(h *header, from netip.AddrPort) *Conn {
	if s.closed || len(s.accept) == cap(s.accept) {
		return nil
	}
	c := newConn(s, from, h.connID+1, h.connID)
	c.state = stateConnected
	c.seqNr = uint16(rand.Uint32())
	c.ackNr = h.seq
	c.peerWnd = int(h.wnd)
	c.usePeerDatagram(h)
	s.conns[connKey{from, c.recvID}] = c
	s.accept <- c
	return c
}

func (s *Socket) sendReset(h *header, to netip.AddrPort, now time.Time) {
	var buf [headerLen]byte
	r := header{typ: stReset, connID: h.connID, timestamp: micros(now), ack: h.seq}
	s.send(r.append(buf[:0]), to)
}

func (s *Socket) tickLoop() {
	defer s.wg.Done()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	var conns []*Conn
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			s.mu.Lock()
			for _, c := range s.conns {
				conns = append(conns, c)
			}
			s.mu.Unlock()
			for i, c := range conns {
				c.mu.Lock()
				c.tick(now)
				c.mu.Unlock()
				conns[i] = nil
			}
			conns = conns[:0]
		}
	}
}

func micros(t time.Time) uint32 { return uint32(t.UnixMicro()) }
