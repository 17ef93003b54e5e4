package fetch

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// socketUnacked returns how many bytes we wrote to c that the peer has
// not yet acknowledged (SIOCOUTQ). It shrinks with every ACK, so it
// shows a slow peer reading long before the socket has room for another
// write.
func socketUnacked(c net.Conn) (int, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	n, qerr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) {
		n, qerr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	}); err != nil || qerr != nil {
		return 0, false
	}
	return n, true
}
