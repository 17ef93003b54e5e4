//go:build !linux

package tracker

import "net"

// deferAccept is a Linux optimization; elsewhere connections are
// accepted as soon as they are established.
func deferAccept(net.Listener, int) {}
