package server

import (
	"net"
	"net/netip"
	"os"
	"syscall"
)

// rawAcceptor accepts connections on a TCP listener's descriptor itself,
// leaving them unknown to the runtime's poller. A connection that sends
// its whole request at once (TCP_DEFER_ACCEPT makes that the rule) and
// takes its answer at once is then served with one read, one write and
// one close (when it was waiting in the accept queue): no poller registration and removal, no socket options, no
// address look-ups, no net.Conn. Anything that must wait is promoted to
// a net.Conn (connIO.promote). One rawAcceptor belongs to one goroutine.
type rawAcceptor struct {
	rc   syscall.RawConn
	fd   int
	sa   syscall.Sockaddr
	serr error
	fn   func(fd uintptr)
}

// newRawAcceptor returns nil when ln is not a TCP listener.
func newRawAcceptor(ln net.Listener) *rawAcceptor {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	a := &rawAcceptor{rc: rc}
	a.fn = func(fd uintptr) {
		a.fd, a.sa, a.serr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	}
	return a
}

// accept takes a connection that is ready: its descriptor (non-blocking,
// close-on-exec) and the client's address. When none is, it returns
// errWouldBlock and the caller waits in the listener's Accept instead
// (the runtime cannot wait on a listener's raw descriptor for us).
func (a *rawAcceptor) accept() (int, netip.AddrPort, error) {
	for {
		if err := a.rc.Control(a.fn); err != nil {
			return -1, netip.AddrPort{}, err
		}
		switch a.serr {
		case nil:
		case syscall.EAGAIN:
			return -1, netip.AddrPort{}, errWouldBlock
		case syscall.ECONNABORTED, syscall.EINTR:
			continue // the client gave up before we took it, as net does
		default:
			return -1, netip.AddrPort{}, os.NewSyscallError("accept4", a.serr)
		}
		var remote netip.AddrPort
		switch sa := a.sa.(type) {
		case *syscall.SockaddrInet4:
			remote = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
		case *syscall.SockaddrInet6:
			remote = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
		}
		a.sa = nil
		return a.fd, remote, nil
	}
}
