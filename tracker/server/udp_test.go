package server

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/tracker/internal/udpproto"
)

// startServer runs a Server on loopback HTTP and UDP for the test and
// returns its announce URLs.
func startServer(t *testing.T, cfg Config) (s *Server, httpURL, udpURL string) {
	t.Helper()
	s = newTestServer(t, cfg)
	httpURL, udpURL = testutil.ServeTracker(t, s.ListenAndServe)
	return s, httpURL, udpURL
}

func TestUDPServerRejectsForeignConnectionIDs(t *testing.T) {
	_, _, udpURL := startServer(t, Config{})
	conn, err := net.Dial("udp", strings.TrimSuffix(strings.TrimPrefix(udpURL, "udp://"), "/announce"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// An id the server never gave us.
	req := udpproto.AppendAnnounce(nil, &udpproto.Announce{ConnID: 0x1234, TxID: 77, InfoHash: hashOf(1), PeerID: idOf(1), Port: 1, NumWant: -1})
	conn.Write(req)
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(buf) != udpproto.ActionError || binary.BigEndian.Uint32(buf[4:]) != 77 || !strings.Contains(string(buf[8:n]), "connect again") {
		t.Fatalf("answer %q", buf[:n])
	}
	// A connection id is bound to the address that asked for it.
	m, err := newConnIDMAC()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, b := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:1000")
	id := m.make(a, now)
	if !m.valid(id, a, now) || !m.valid(id, a, now.Add(connIDEpoch)) {
		t.Fatal("fresh id refused")
	}
	if m.valid(id, b, now) || m.valid(id, a, now.Add(3*connIDEpoch)) {
		t.Fatal("id accepted from another address or after it expired")
	}
}
