//go:build !linux

package fetch

import "net"

// socketUnacked is unknown here: only writes that return show progress.
func socketUnacked(net.Conn) (int, bool) { return 0, false }
