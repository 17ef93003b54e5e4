package harness

import (
	"fmt"
	"net"
	"testing"
)

// FreePort returns a loopback port that is free for both TCP and UDP right
// now. Another process may take it before the caller binds it; the helpers
// that start servers retry on a fresh port when that happens.
func FreePort(tb testing.TB) int {
	tb.Helper()
	port, err := freePort()
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("listen on 127.0.0.1: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		// Trackers serve UDP on the same port number.
		u, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no loopback port free for both TCP and UDP")
}
