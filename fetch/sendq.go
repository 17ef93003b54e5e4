package fetch

import "net"

// An UnackedConn is a connection that knows how many bytes written to it
// the peer has not yet acknowledged, as a uTP connection does. The
// choker uses it to see that a peer stopped reading (for TCP it asks the
// kernel).
type UnackedConn interface {
	net.Conn
	Unacked() int
}

// unacked returns how many bytes we wrote to c that the peer has not yet
// acknowledged, and false when that is unknown.
func unacked(c net.Conn) (int, bool) {
	if u, ok := c.(UnackedConn); ok {
		return u.Unacked(), true
	}
	return socketUnacked(c)
}
