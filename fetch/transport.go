package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
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

// NewTransport makes a Transport of a dial function and a listener (nil
// for one that only dials), so that a transport package need not import
// fetch: a uTP socket plugs in as
//
//	fetch.NewTransport(fetch.TransportUTP, sock.DialAddrPort, sock)
func NewTransport(name string, dial func(ctx context.Context, addr netip.AddrPort) (net.Conn, error), ln net.Listener) Transport {
	return &funcTransport{name: name, dial: dial, ln: ln}
}

type funcTransport struct {
	name string
	dial func(context.Context, netip.AddrPort) (net.Conn, error)
	ln   net.Listener
}

func (f *funcTransport) Name() string { return f.name }

func (f *funcTransport) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return f.dial(ctx, addr)
}

func (f *funcTransport) Listener() net.Listener { return f.ln }
