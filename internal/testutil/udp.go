// Package testutil holds helpers that tests of several packages share.
// Only tests import it.
package testutil

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// QueuedUDP returns the packets queued on conn, without waiting for more.
// A read deadline in the past would not do: it fails before reading even
// the packets already queued, so a check that nothing arrived would always
// pass.
func QueuedUDP(tb testing.TB, conn *net.UDPConn) [][]byte {
	tb.Helper()
	conn.SetReadDeadline(time.Time{})
	rc, err := conn.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var pkts [][]byte
	for {
		buf := make([]byte, 1500)
		var (
			n    int
			rerr error
		)
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			return true // never wait
		}); err != nil {
			tb.Fatal(err)
		}
		if errors.Is(rerr, syscall.EAGAIN) {
			return pkts
		}
		if rerr != nil {
			tb.Fatal(rerr)
		}
		pkts = append(pkts, buf[:n])
	}
}
