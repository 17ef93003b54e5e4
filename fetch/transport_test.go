package fetch

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/wire"
)

// memNet is an in-memory network for fake transports: listeners
// registered at addresses, connections over net.Pipe.
type memNet struct {
	mu  sync.Mutex
	lns map[netip.AddrPort]*memListener
}

func newMemNet() *memNet { return &memNet{lns: map[netip.AddrPort]*memListener{}} }

// memTransport is a fake Transport on a memNet.
type memTransport struct {
	name string
	net  *memNet
	ln   *memListener // nil: dial only
	// hold, when not nil, keeps every dial waiting until it is closed,
	// whatever the dial's context says: a connection that opens just as
	// its dial is cancelled.
	hold chan struct{}
	// conns receives the dialing end of every connection made.
	conns chan *memConn
	dials chan netip.AddrPort // every address dialed
}

// transport returns a fake transport, listening at addr unless addr is
// the zero AddrPort.
func (n *memNet) transport(t *testing.T, name string, addr netip.AddrPort) *memTransport {
	tr := &memTransport{name: name, net: n, conns: make(chan *memConn, 16), dials: make(chan netip.AddrPort, 16)}
	if addr.IsValid() {
		ln := &memListener{addr: addr, in: make(chan net.Conn), done: make(chan struct{})}
		n.mu.Lock()
		n.lns[addr] = ln
		n.mu.Unlock()
		tr.ln = ln
		t.Cleanup(func() { ln.Close() })
	}
	return tr
}

func (tr *memTransport) Name() string { return tr.name }

func (tr *memTransport) Listener() net.Listener {
	if tr.ln == nil {
		return nil
	}
	return tr.ln
}

var errRefused = errors.New("connection refused")

func (tr *memTransport) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	select {
	case tr.dials <- addr:
	default:
	}
	if tr.hold != nil {
		<-tr.hold
	}
	tr.net.mu.Lock()
	ln := tr.net.lns[addr]
	tr.net.mu.Unlock()
	if ln == nil {
		return nil, errRefused
	}
	local := netip.MustParseAddrPort("127.0.0.1:40000")
	if tr.ln != nil {
		local = tr.ln.addr
	}
	a, b := net.Pipe()
	near := &memConn{Conn: a, local: local, remote: addr, closed: make(chan struct{})}
	far := &memConn{Conn: b, local: addr, remote: local, closed: make(chan struct{})}
	select {
	case ln.in <- far:
	case <-ln.done:
		return nil, errRefused
	}
	select {
	case tr.conns <- near:
	default:
	}
	return near, nil
}

type memListener struct {
	addr netip.AddrPort
	in   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (ln *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-ln.in:
		return c, nil
	case <-ln.done:
		return nil, net.ErrClosed
	}
}

func (ln *memListener) Close() error {
	ln.once.Do(func() { close(ln.done) })
	return nil
}

func (ln *memListener) Addr() net.Addr { return net.UDPAddrFromAddrPort(ln.addr) }

// memConn is one end of a pipe with IP addresses; closed is closed by
// Close.
type memConn struct {
	net.Conn
	local, remote netip.AddrPort
	closed        chan struct{}
	once          sync.Once
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *memConn) LocalAddr() net.Addr  { return net.UDPAddrFromAddrPort(c.local) }
func (c *memConn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.remote) }

// unusedTCPPort returns a loopback address where no TCP listener is (one
// was, briefly), so that a TCP dial there is refused.
func unusedTCPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := addrPort(ln.Addr())
	ln.Close()
	return a
}

func listenTCP(t *testing.T) *TCP {
	t.Helper()
	tcp, err := ListenTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return tcp
}

// peerTransports returns the transports of tor's connections.
func peerTransports(tor *Torrent) []string {
	var out []string
	for _, p := range tor.Stats().Peers {
		out = append(out, p.Transport)
	}
	return out
}

// TestDownloadOverOtherTransport: a seeder reachable only over a
// transport other than TCP is found and downloaded from by a client that
// has that transport beside TCP, and the connection says which carried it.
func TestDownloadOverOtherTransport(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 2<<20, 64<<10)
	mem := newMemNet()
	addr := unusedTCPPort(t)
	seedMem := mem.transport(t, "mem", addr)
	// As a transport package plugs in, without implementing Transport.
	seed := newTestClient(t, Config{Transports: []Transport{NewTransport("mem", seedMem.Dial, seedMem.ln)}})
	if got := seed.listenPort(); got != addr.Port() {
		t.Fatalf("seeder announces port %d, want its only listener's %d", got, addr.Port())
	}
	seedTor := addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	leechMem := mem.transport(t, "mem", netip.AddrPort{})
	leech := newTestClient(t, Config{Transports: []Transport{listenTCP(t), leechMem}})
	st := newMemStorage(&mi.Info, nil)
	// Not downloading yet: once done, two seeds drop their connection.
	tor := addTorrent(t, leech, mi, st, TorrentOptions{Peers: []string{addr.String()}})
	waitPeers(t, tor, 1, 20*time.Second)
	waitPeers(t, seedTor, 1, 20*time.Second)
	if got, seen := peerTransports(tor), peerTransports(seedTor); len(got) != 1 || got[0] != "mem" || len(seen) != 1 || seen[0] != "mem" {
		t.Fatalf("leecher's connections over %v, seeder's over %v, want one over mem", got, seen)
	}
	tor.SetDownloadAll(true)
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

// TestDialRaceKeepsFirst: a peer reachable over TCP and another
// transport is dialed over both; TCP connects first and is kept, and the
// other transport's connection, which opens later, is closed.
func TestDialRaceKeepsFirst(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	mem := newMemNet()
	seedTCP := listenTCP(t)
	addr, _ := addrPort(seedTCP.Listener().Addr())
	seed := newTestClient(t, Config{Transports: []Transport{seedTCP, mem.transport(t, "mem", addr)}})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})

	slow := mem.transport(t, "mem", netip.AddrPort{})
	slow.hold = make(chan struct{})
	var release sync.Once
	leech := newTestClient(t, Config{Transports: []Transport{listenTCP(t), slow}})
	// Runs before the Client's Close: the held dial must end for Close.
	t.Cleanup(func() { release.Do(func() { close(slow.hold) }) })
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, leech, mi, st, TorrentOptions{Peers: []string{addr.String()}})
	waitPeers(t, tor, 1, 20*time.Second)
	if got := peerTransports(tor); len(got) != 1 || got[0] != TransportTCP {
		t.Fatalf("connections over %v, want one over tcp", got)
	}
	select {
	case <-slow.dials:
	case <-time.After(10 * time.Second):
		t.Fatal("the second transport was not dialed")
	}
	release.Do(func() { close(slow.hold) })
	select {
	case c := <-slow.conns:
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the connection that lost the race was not closed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held dial never connected")
	}
	if got := peerTransports(tor); len(got) != 1 || got[0] != TransportTCP {
		t.Fatalf("after the race: connections over %v, want one over tcp", got)
	}
	tor.SetDownloadAll(true)
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

// fakeDialer is a Transport whose dials answer at once: with a
// connection over a pipe, or an error.
type fakeDialer struct {
	name  string
	err   error
	dials chan struct{} // one value per dial
}

func (f *fakeDialer) Name() string           { return f.name }
func (f *fakeDialer) Listener() net.Listener { return nil }
func (f *fakeDialer) Dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	f.dials <- struct{}{}
	if f.err != nil {
		return nil, f.err
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func newFakeDialer(name string, err error) *fakeDialer {
	return &fakeDialer{name: name, err: err, dials: make(chan struct{}, 4)}
}

// TestDialFirstHeadStart: the transport with a head start is dialed
// alone; the others follow at once when it fails, and not at all when it
// connects.
func TestDialFirstHeadStart(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:1")
	ctx := context.Background()
	var wg sync.WaitGroup
	defer wg.Wait()

	utp, tcp := newFakeDialer(TransportUTP, nil), newFakeDialer(TransportTCP, nil)
	conn, tr, err := dialFirst(ctx, &wg, addr, []Transport{utp, tcp}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if tr != utp || len(tcp.dials) != 0 {
		t.Fatalf("won by %s with %d tcp dials, want utp alone", tr.Name(), len(tcp.dials))
	}

	// An hour's head start, yet TCP is dialed as soon as uTP fails.
	utp = newFakeDialer(TransportUTP, errRefused)
	conn, tr, err = dialFirst(ctx, &wg, addr, []Transport{utp, tcp}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if tr != tcp {
		t.Fatalf("won by %s, want tcp after utp failed", tr.Name())
	}

	tcp = newFakeDialer(TransportTCP, errors.New("no route"))
	_, _, err = dialFirst(ctx, &wg, addr, []Transport{utp, tcp}, 0)
	if !errors.Is(err, errRefused) || err.Error() == errRefused.Error() {
		t.Fatalf("error %q, want both transports' errors", err)
	}
	_, _, err = dialFirst(ctx, &wg, addr, []Transport{utp}, 0)
	if err != errRefused {
		t.Fatalf("error %q from one transport, want its own", err)
	}
}

// TestDialOrderPrefersUTP: a peer PEX says supports uTP is dialed over
// uTP first, with a head start; others over every transport at once.
func TestDialOrderPrefersUTP(t *testing.T) {
	tcp, utp := &TCP{}, newFakeDialer(TransportUTP, nil)
	c := &Client{transports: []Transport{tcp, utp}}
	if ts, head := c.dialOrder(wire.PEXUTP | wire.PEXSeed); len(ts) != 2 || ts[0] != utp || ts[1] != tcp || head != utpHeadStart {
		t.Errorf("uTP peer: order %v, head start %v; want utp then tcp after %v", ts, head, utpHeadStart)
	}
	if ts, head := c.dialOrder(wire.PEXSeed); len(ts) != 2 || ts[0] != tcp || head != 0 {
		t.Errorf("other peer: order %v, head start %v; want both at once", ts, head)
	}
	c.transports = []Transport{tcp}
	if ts, head := c.dialOrder(wire.PEXUTP); len(ts) != 1 || head != 0 {
		t.Errorf("without a uTP transport: order %v, head start %v; want tcp at once", ts, head)
	}
}

// TestPEXUTPFlag: the uTP flag of a PEX message is kept with the
// candidate (also when the address was known before), and we send it for
// peers connected over uTP or said to support it.
func TestPEXUTPFlag(t *testing.T) {
	t.Parallel()
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	plain := netip.MustParseAddrPort("127.0.3.1:9")
	utp := netip.MustParseAddrPort("127.0.3.2:9")
	late := netip.MustParseAddrPort("127.0.3.3:9")
	tor.AddPeers(late.String())
	msg := wire.PEX{AddedF: string([]byte{wire.PEXSeed, wire.PEXUTP, wire.PEXUTP | wire.PEXReachable})}
	msg.Added, _ = wire.CompactPeers([]netip.AddrPort{plain, utp, late})
	b, err := msg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: tor, addr: "test"}
	if err := p.onPEX(b); err != nil {
		t.Fatal(err)
	}
	tor.mu.Lock()
	defer tor.mu.Unlock()
	for a, want := range map[netip.AddrPort]bool{plain: false, utp: true, late: true} {
		c := tor.candidates[a]
		if c == nil {
			t.Fatalf("%v is not a candidate", a)
		}
		if got := c.pexFlags&wire.PEXUTP != 0; got != want {
			t.Errorf("%v: supports uTP %v, want %v", a, got, want)
		}
	}
	for _, tc := range []struct {
		p    *peer
		want bool
	}{
		{&peer{t: tor, transport: TransportTCP, dialed: plain}, false},
		{&peer{t: tor, transport: TransportTCP, dialed: utp}, true},
		{&peer{t: tor, transport: TransportUTP, listenAddr: plain}, true},
	} {
		if got := tc.p.pexFlags()&wire.PEXUTP != 0; got != tc.want {
			t.Errorf("peer over %s dialed at %v: uTP flag sent %v, want %v", tc.p.transport, tc.p.dialed, got, tc.want)
		}
	}
}

// TestAddPeersLooksUpNames: a peer given by name ("localhost:port", as
// --peer takes it) is looked up and downloaded from, as when the name
// went straight to the TCP dialer. localhost is in /etc/hosts: no packet
// leaves the machine.
func TestAddPeersLooksUpNames(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	a, _ := addrPort(seed.Addr())
	leech := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, leech, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{"localhost:" + strconv.Itoa(int(a.Port()))}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

type unackedPipe struct {
	net.Conn
	n int
}

func (c unackedPipe) Unacked() int { return c.n }

// TestUnackedFromConn: a connection that counts its unacknowledged bytes
// (uTP) is asked, not the kernel.
func TestUnackedFromConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := unacked(a); ok {
		t.Fatal("a pipe reports unacknowledged bytes")
	}
	if n, ok := unacked(unackedPipe{a, 42}); !ok || n != 42 {
		t.Fatalf("unacked = %d, %v; want 42 from the connection", n, ok)
	}
}

// TestSeedSkipsPEXSeeds: a seeder does not dial a peer PEX flags as a
// seed (the two would hang up at once), and does dial the others.
func TestSeedSkipsPEXSeeds(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	s := newTestClient(t, Config{})
	tor := addTorrent(t, s, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	other := newTestClient(t, Config{})
	otherTor := addTorrent(t, other, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	leech := newTestClient(t, Config{})
	addTorrent(t, leech, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	seedAddr, _ := addrPort(other.Addr())
	leechAddr, _ := addrPort(leech.Addr())
	msg := wire.PEX{AddedF: string([]byte{wire.PEXSeed, 0})}
	msg.Added, _ = wire.CompactPeers([]netip.AddrPort{seedAddr, leechAddr})
	b, err := msg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := (&peer{t: tor, addr: "test"}).onPEX(b); err != nil {
		t.Fatal(err)
	}
	// Both candidates came in one message, so the dial that reached the
	// leecher had the seed in view too.
	testutil.Eventually(t, "the seed connecting to the leecher", func() bool { return connectedTo(tor, leech.PeerID()) })
	tor.mu.Lock()
	c := tor.candidates[seedAddr]
	// A dial, failed or connected, sets when to try again.
	dialed := c.dialing || c.connected || !c.next.IsZero()
	tor.mu.Unlock()
	if dialed || connectedTo(tor, other.PeerID()) || len(otherTor.Stats().Peers) != 0 {
		t.Fatal("a seed dialed a peer PEX says is a seed")
	}
}
