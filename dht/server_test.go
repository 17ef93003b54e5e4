package dht

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/zeebo/bencode"
)

// rawClient speaks KRPC by hand to a node, to test what the server does
// with exactly the packets a test chooses.
type rawClient struct {
	t    *testing.T
	conn *net.UDPConn
	to   netip.AddrPort
	id   ID
}

func newRawClient(t *testing.T, to netip.AddrPort) *rawClient {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, to: to, id: RandomID()}
}

func (c *rawClient) addr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (c *rawClient) send(method string, a *queryArgs) {
	c.t.Helper()
	a.ID = string(c.id[:])
	b, err := bencode.EncodeBytes(&message{T: "tx", Y: "q", Q: method, A: a})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteToUDPAddrPort(b, c.to); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next packet, or nil when none comes within wait.
func (c *rawClient) recv(wait time.Duration) *message {
	c.t.Helper()
	buf := make([]byte, maxPacket)
	c.conn.SetReadDeadline(time.Now().Add(wait))
	sz, err := c.conn.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	m, err := decodeMessage(buf[:sz])
	if err != nil {
		c.t.Fatalf("node sent an invalid packet %q: %v", buf[:sz], err)
	}
	return m
}

func (c *rawClient) call(method string, a *queryArgs) *message {
	c.t.Helper()
	c.send(method, a)
	m := c.recv(5 * time.Second)
	if m == nil {
		c.t.Fatalf("%s: no answer", method)
	}
	if m.T != "tx" {
		c.t.Fatalf("%s: answer has transaction id %q; want %q", method, m.T, "tx")
	}
	return m
}

func wantError(t *testing.T, m *message, code int64) {
	t.Helper()
	if m.Y != "e" {
		t.Fatalf("got %+v; want error %d", m, code)
	}
	if e, _ := decodeError(m.E); e.Code != code {
		t.Errorf("got error %d %q; want %d", e.Code, e.Msg, code)
	}
}

// TestServerTokens: announce_peer needs the token get_peers gave to the
// same IP; then get_peers hands out the announced peer.
func TestServerTokens(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("127.0.0.1:0"))
	c := newRawClient(t, n.Addr())
	ih := RandomID()

	m := c.call("ping", &queryArgs{})
	if m.Y != "r" || ID([]byte(m.R.ID)) != n.ID() {
		t.Fatalf("ping answered %+v", m)
	}
	wantError(t, c.call("announce_peer", &queryArgs{InfoHash: string(ih[:]), Port: 7000, Token: "forged"}), errProtocol)

	m = c.call("get_peers", &queryArgs{InfoHash: string(ih[:])})
	if m.Y != "r" || len(m.R.Token) == 0 || len(m.R.Values) != 0 {
		t.Fatalf("get_peers on an empty node answered %+v; want a token and no values", m)
	}
	tok := m.R.Token
	wantError(t, c.call("announce_peer", &queryArgs{InfoHash: string(ih[:]), Port: 0, Token: tok}), errProtocol)
	wantError(t, c.call("announce_peer", &queryArgs{InfoHash: string(ih[:]), Port: 70000, Token: tok}), errProtocol)
	if m := c.call("announce_peer", &queryArgs{InfoHash: string(ih[:]), Port: 7000, Token: tok}); m.Y != "r" {
		t.Fatalf("announce with a good token answered %+v", m)
	}
	if m := c.call("announce_peer", &queryArgs{InfoHash: string(ih[:]), ImpliedPort: 1, Token: tok}); m.Y != "r" {
		t.Fatalf("announce with implied_port answered %+v", m)
	}
	m = c.call("get_peers", &queryArgs{InfoHash: string(ih[:])})
	var got []netip.AddrPort
	for _, v := range m.R.Values {
		p, err := parseCompactPeer([]byte(v))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	want := map[netip.AddrPort]bool{netip.MustParseAddrPort("127.0.0.1:7000"): true, c.addr(): true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] || got[0] == got[1] {
		t.Errorf("get_peers values = %v; want 127.0.0.1:7000 and %v", got, c.addr())
	}

	// The token is bound to the IP: another IP cannot use it.
	n.mu.Lock()
	other := n.tokens.valid(tok, netip.MustParseAddr("10.0.0.1"), time.Now())
	n.mu.Unlock()
	if other {
		t.Error("a token given to 127.0.0.1 is valid for 10.0.0.1")
	}
}

// TestServerErrors: bad arguments and unknown methods get KRPC errors;
// the querier lands in the routing table unless it is read-only.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig("127.0.0.1:0"))
	c := newRawClient(t, n.Addr())
	wantError(t, c.call("find_node", &queryArgs{Target: "short"}), errProtocol)
	wantError(t, c.call("get_peers", &queryArgs{}), errProtocol)
	wantError(t, c.call("vote", &queryArgs{}), errMethod)
	m := c.call("find_node", &queryArgs{Target: string(c.id[:])})
	nodes, err := parseCompactNodes(m.R.Nodes, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].ID != c.id || nodes[0].Addr != c.addr() {
		t.Errorf("find_node returned %v; want the querier itself, learnt from its queries", nodes)
	}
}

// TestServerRateLimit: a source IP that floods the node gets only its
// burst answered.
func TestServerRateLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig("127.0.0.1:0")
	cfg.QueryRate, cfg.QueryBurst = 0.01, 5
	n := startNode(t, cfg)
	c := newRawClient(t, n.Addr())
	for range 50 {
		c.send("ping", &queryArgs{})
	}
	answers := 0
	for c.recv(time.Second) != nil {
		answers++
	}
	if answers != 5 {
		t.Errorf("50 pings got %d answers; want the burst of 5", answers)
	}
}

// TestServerWantsBothFamilies: an IPv4 node and its IPv6 sibling (BEP 32)
// answer a find_node that wants n4 and n6 with both tables' nodes, and
// one that says nothing with the family it came over only.
func TestServerWantsBothFamilies(t *testing.T) {
	n4 := startNode(t, testConfig("127.0.0.1:0"))
	n6, err := New(Config{Addr: "[::1]:0", Bootstrap: []string{}, QueryRate: -1, Sibling: n4})
	if err != nil {
		t.Fatalf("this machine has no ::1 (%v); IPv6 loopback is required", err)
	}
	t.Cleanup(func() { n6.Close() })
	if n4.IPv6() || !n6.IPv6() {
		t.Fatalf("families: IPv4 node says IPv6=%v, IPv6 node %v", n4.IPv6(), n6.IPv6())
	}
	four := NodeInfo{ID: RandomID(), Addr: netip.MustParseAddrPort("127.0.0.2:7000")}
	six := NodeInfo{ID: RandomID(), Addr: netip.MustParseAddrPort("[2001:db8::1]:7000")}
	for _, c := range []struct {
		n  *Node
		ni NodeInfo
	}{{n4, four}, {n6, six}} {
		c.n.mu.Lock()
		c.n.table.seen(c.ni, false, time.Now())
		c.n.mu.Unlock()
	}
	c := newRawClient(t, n4.Addr())
	target := RandomID()
	r := c.call("find_node", &queryArgs{Target: string(target[:]), Want: []string{"n4", "n6"}}).R
	got4, err4 := parseCompactNodes(r.Nodes, false)
	got6, err6 := parseCompactNodes(r.Nodes6, true)
	// (nodes holds the querier too, learnt from its query.)
	if err4 != nil || err6 != nil || !slices.Contains(got4, four) || len(got6) != 1 || got6[0] != six {
		t.Fatalf("want n4 n6 answered nodes %v (%v), nodes6 %v (%v); want %v and %v", got4, err4, got6, err6, four, six)
	}
	r = c.call("find_node", &queryArgs{Target: string(target[:])}).R
	if got4, _ := parseCompactNodes(r.Nodes, false); r.Nodes6 != "" || !slices.Contains(got4, four) {
		t.Errorf("a query without want got nodes %q and nodes6 %q; want the IPv4 nodes alone", r.Nodes, r.Nodes6)
	}
}
