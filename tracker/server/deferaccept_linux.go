package server

import (
	"net"
	"syscall"
)

// deferAccept asks the kernel to hand over connections only once their
// first bytes have arrived (TCP_DEFER_ACCEPT). Every HTTP client speaks
// first, so the request is then read in the same turn as the accept
// instead of parking the goroutine until it arrives; a client that
// connects and says nothing costs the kernel alone for up to secs
// seconds, after which the connection is accepted and meets the usual
// idle timeout. Listeners that are not TCP are left alone.
func deferAccept(ln net.Listener, secs int) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		// Best effort: without it connections are served all the same.
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, secs)
	})
}
