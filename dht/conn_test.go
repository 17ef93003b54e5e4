package dht

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// sharedConn stands for the DHT side of a socket shared with uTP: a
// net.PacketConn that is not a *net.UDPConn. It counts what it carries.
type sharedConn struct {
	net.PacketConn
	reads, writes atomic.Int64
}

func (c *sharedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.PacketConn.ReadFrom(b)
	if err == nil {
		c.reads.Add(1)
	}
	return n, from, err
}

func (c *sharedConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.writes.Add(1)
	return c.PacketConn.WriteTo(b, to)
}

// TestNodeOnGivenConn: a node on a socket it is given (Config.Conn)
// answers, looks up and announces like one on its own socket, and closes
// the socket on Close.
func TestNodeOnGivenConn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	conn := &sharedConn{PacketConn: udp}
	a, err := New(Config{Conn: conn, Bootstrap: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if got, want := a.Addr(), udp.LocalAddr().(*net.UDPAddr).AddrPort(); got != want {
		t.Fatalf("Addr() = %v, want the socket's %v", got, want)
	}
	b, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: []string{a.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	var ih ID
	copy(ih[:], "a shared-socket hash")
	if _, err := b.Announce(ctx, ih, 6881); err != nil {
		t.Fatal(err)
	}
	peers, err := a.GetPeers(ctx, ih)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 1 || peers[0] != netip.MustParseAddrPort("127.0.0.1:6881") {
		t.Fatalf("a found peers %v, want 127.0.0.1:6881", peers)
	}
	if conn.reads.Load() == 0 || conn.writes.Load() == 0 {
		t.Fatalf("the given socket carried %d reads and %d writes", conn.reads.Load(), conn.writes.Load())
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := udp.WriteTo([]byte("x"), udp.LocalAddr()); err == nil {
		t.Fatal("the socket is still open after Close")
	}
}
