package utp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// otherBacklog bounds the non-uTP datagrams waiting for ReadFrom; beyond
// it they are dropped, as a full socket buffer would.
const otherBacklog = 256

type datagram struct {
	b    []byte
	from netip.AddrPort
}

// packetConn is the net.PacketConn of a Socket's non-uTP datagrams.
type packetConn struct {
	s     *Socket
	in    chan datagram
	local net.Addr // nil: the socket's

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes
}

var _ net.PacketConn = (*packetConn)(nil)

func newPacketConn(s *Socket) *packetConn {
	return &packetConn{s: s, in: make(chan datagram, otherBacklog), wake: make(chan struct{})}
}

func (p *packetConn) deliver(b []byte, from netip.AddrPort) {
	select {
	case p.in <- datagram{append([]byte(nil), b...), from}:
	default:
	}
}

// ReadFrom returns the next non-uTP datagram.
func (p *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		p.mu.Lock()
		deadline, wake := p.deadline, p.wake
		p.mu.Unlock()
		n, addr, err, again := p.wait(b, deadline, wake)
		if !again {
			return n, addr, err
		}
	}
}

// wait waits for a datagram until the deadline; again says the deadline
// changed meanwhile.
func (p *packetConn) wait(b []byte, deadline time.Time, wake chan struct{}) (int, net.Addr, error, bool) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return 0, nil, os.ErrDeadlineExceeded, false
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case d := <-p.in:
		return copy(b, d.b), net.UDPAddrFromAddrPort(d.from), nil, false
	case <-p.s.done:
		return 0, nil, fmt.Errorf("utp: read: %w", net.ErrClosed), false
	case <-timeout:
		return 0, nil, os.ErrDeadlineExceeded, false
	case <-wake:
		return 0, nil, nil, true
	}
}

// WriteTo sends b from the socket's port.
func (p *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	return p.s.udp.WriteTo(b, addr)
}

// Close does nothing: the Socket owns the port.
func (p *packetConn) Close() error { return nil }

// LocalAddr is the socket's address; for the IPv4 side of a socket on
// every address of both families (PacketConns), 0.0.0.0 and its port.
func (p *packetConn) LocalAddr() net.Addr {
	if p.local != nil {
		return p.local
	}
	return p.s.Addr()
}

func (p *packetConn) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

func (p *packetConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.deadline = t
	close(p.wake)
	p.wake = make(chan struct{})
	p.mu.Unlock()
	return nil
}

func (p *packetConn) SetWriteDeadline(t time.Time) error { return p.s.udp.SetWriteDeadline(t) }
