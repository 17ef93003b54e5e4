package main

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
)

// TestListenTransportsBothFamilies: with the default --listen, peers
// reach torfs over TCP and uTP on IPv4 and IPv6 alike, at one port.
func TestListenTransportsBothFamilies(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback on this machine (%v): check `ip -6 addr show lo`", err)
	} else {
		ln.Close()
	}
	ts, sock, err := listenTransports(":0", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if sock == nil || len(ts) != 2 {
		t.Fatalf("%d transports, socket %v: want uTP and TCP", len(ts), sock)
	}
	defer func() {
		for _, tr := range ts {
			tr.Listener().Close()
		}
	}()
	port := uint16(ts[1].Listener().Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.1", "::1"} {
		addr := netip.AddrPortFrom(netip.MustParseAddr(host), port)
		for _, tr := range ts {
			accepted := make(chan error, 1)
			go func() {
				c, err := tr.Listener().Accept()
				if err == nil {
					_, err = c.Read(make([]byte, 1))
					c.Close()
				}
				accepted <- err
			}()
			dialer := tr
			if tr.Name() == fetch.TransportUTP {
				// A second socket: uTP does not dial its own port.
				other, _, err := listenTransports("127.0.0.1:0", false, false)
				if host == "::1" {
					other, _, err = listenTransports("[::1]:0", false, false)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer other[0].Listener().Close()
				defer other[1].Listener().Close()
				dialer = other[0]
			}
			c, err := dialer.Dial(ctx, addr)
			if err != nil {
				t.Fatalf("%s over %s: %v", addr, tr.Name(), err)
			}
			if _, err := c.Write([]byte{1}); err != nil {
				t.Fatalf("%s over %s: %v", addr, tr.Name(), err)
			}
			if err := <-accepted; err != nil {
				t.Fatalf("%s over %s: accepted %v", addr, tr.Name(), err)
			}
			c.Close()
		}
	}
}
