package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/allocbound"
	"github.com/torfs/torfs/tracker/internal/udpproto"
)

func FuzzParseAnnounceQuery(f *testing.F) {
	f.Add("info_hash=%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14&peer_id=-TF0001-123456789012&port=6881&uploaded=0&downloaded=0&left=5&event=started&compact=1&numwant=30&key=abc")
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&ip=%3A%3A1&compact=0&no_peer_id=1")
	f.Add("info_hash=%zz&&=&port=99999999999999999999")
	f.Add("info_hash=+++++++++++++++++++%&peer_id=")
	for _, s := range hostileQueries(300) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		allocbound.CheckEach(t, queryLimit, raw, querySteps(raw)...)
		var q announceQuery
		err := parseAnnounceQuery(raw, &q)
		if err == nil && (!q.haveHash || !q.havePeerID || q.port == 0) {
			t.Fatalf("accepted %q without info_hash, peer_id or port", raw)
		}
		if err == nil && (q.uploaded < 0 || q.downloaded < 0 || q.left < 0 || q.numWant < -1) {
			t.Fatalf("accepted negative numbers from %q: %+v", raw, q)
		}
		hashes, err := parseScrapeQuery(raw, nil, 8)
		if err == nil && (len(hashes) == 0 || len(hashes) > 8) {
			t.Fatalf("scrape of %q gave %d hashes", raw, len(hashes))
		}
	})
}

func FuzzUDPPacket(f *testing.F) {
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	from := netip.MustParseAddrPort("10.1.2.3:4567")
	id := s.connIDs.make(from, time.Now())
	connect := binary.BigEndian.AppendUint64(nil, udpproto.ProtocolID)
	connect = binary.BigEndian.AppendUint32(connect, udpproto.ActionConnect)
	connect = binary.BigEndian.AppendUint32(connect, 9)
	f.Add(connect)
	f.Add(udpproto.AppendAnnounce(nil, &udpproto.Announce{ConnID: id, TxID: 1, InfoHash: hashOf(1), PeerID: idOf(1), Port: 80, Event: udpproto.EventStarted, NumWant: -1}))
	scrape := binary.BigEndian.AppendUint64(nil, id)
	scrape = binary.BigEndian.AppendUint32(scrape, udpproto.ActionScrape)
	scrape = binary.BigEndian.AppendUint32(scrape, 3)
	h := hashOf(1)
	f.Add(append(scrape, h[:]...))
	f.Add([]byte{0, 0, 0})
	f.Add(append(scrape[:len(scrape):len(scrape)], make([]byte, 20*udpproto.MaxScrapeCount+19)...)) // more hashes than allowed
	f.Add(append(udpproto.AppendAnnounce(nil, &udpproto.Announce{ConnID: id, NumWant: 1 << 30}), make([]byte, 1500)...))
	parsed := &udpState{hashes: make([][20]byte, 0, udpproto.MaxScrapeCount)}
	f.Fuzz(func(t *testing.T, p []byte) {
		allocbound.Check(t, udpLimit, "parsing a UDP request", p, func() { parseUDP(parsed, p) })
		// Ids are valid for this address whatever the fuzzer puts there,
		// so that it reaches the announce and scrape paths.
		if len(p) >= 8 && binary.BigEndian.Uint64(p) != udpproto.ProtocolID {
			binary.BigEndian.PutUint64(p, id)
		}
		st := &udpState{in: make([]byte, 2048), out: make([]byte, 0, udpMaxPayload4)}
		out := s.handleUDP(context.Background(), st, p, from)
		if len(out) > udpMaxPayload4 {
			t.Fatalf("answer of %d bytes would fragment", len(out))
		}
		if len(out) > 0 && len(out) < 8 {
			t.Fatalf("answer %x shorter than a header", out)
		}
	})
}

// fakeConn feeds a byte string to the HTTP front end and keeps what it
// answers.
type fakeConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *fakeConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6969} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1234} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func FuzzHTTPFrontEnd(f *testing.F) {
	s, err := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Add([]byte("GET " + announceQ(hashOf(1), 1, "") + " HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.2\r\n\r\n"))
	f.Add([]byte("GET /scrape?info_hash=" + esc(hashOf(1)) + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /stats HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &fakeConn{in: bytes.NewReader(in)}
		s.serveConn(context.Background(), c)
		if out := c.out.Bytes(); len(out) > 0 && !bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
			t.Fatalf("answer %q is not HTTP", out[:min(len(out), 100)])
		}
	})
}
