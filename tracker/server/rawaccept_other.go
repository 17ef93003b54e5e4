//go:build !linux

package tracker

import (
	"errors"
	"net"
	"net/netip"
)

// rawAcceptor is Linux-only; elsewhere Serve accepts through net.
type rawAcceptor struct{}

func newRawAcceptor(net.Listener) *rawAcceptor { return nil }

func (*rawAcceptor) accept() (int, netip.AddrPort, error) {
	return -1, netip.AddrPort{}, errors.New("raw accept is not supported on this system")
}
