package utp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

func listenT(t testing.TB) *Socket { return lossy(t, nil) }

// lossy is listen with outgoing datagrams lost where drop says.
func lossy(t testing.TB, drop func([]byte) bool) *Socket {
	t.Helper()
	s, err := listen(loopback, drop)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// connPair dials b from a and returns both ends.
func connPair(t testing.TB, a, b *Socket) (dialed, accepted net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type res struct {
		c   net.Conn
		err error
	}
	acc := make(chan res, 1)
	go func() {
		c, err := b.Accept()
		acc <- res{c, err}
	}()
	d, err := a.Dial(ctx, b.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { d.Close(); r.c.Close() })
	return d, r.c
}

func TestStreamBothWays(t *testing.T) {
	a, b := listenT(t), listenT(t)
	d, acc := connPair(t, a, b)
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	want := sha256.Sum256(data)
	errs := make(chan error, 2)
	for _, w := range []net.Conn{d, acc} {
		go func() {
			_, err := w.Write(data)
			errs <- err
		}()
	}
	for _, r := range []net.Conn{acc, d} {
		h := sha256.New()
		if _, err := io.CopyN(h, r, int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatal("received bytes differ from the sent ones")
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseGivesEOFAfterData(t *testing.T) {
	a, b := listenT(t), listenT(t)
	d, acc := connPair(t, a, b)
	msg := bytes.Repeat([]byte("torfs"), 10000)
	if _, err := d.Write(msg); err != nil {
		t.Fatal(err)
	}
	d.Close()
	got, err := io.ReadAll(acc)
	if err != nil {
		t.Fatalf("reading up to the FIN: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes before EOF, want %d", len(got), len(msg))
	}
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
}

func TestReadDeadline(t *testing.T) {
	a, b := listenT(t), listenT(t)
	d, _ := connPair(t, a, b)
	d.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v", err)
	}
}

func TestNonUTPDatagramsShareThePort(t *testing.T) {
	s := listenT(t)
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	krpc := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	if _, err := peer.WriteToUDPAddrPort(krpc, s.AddrPort()); err != nil {
		t.Fatal(err)
	}
	pc := s.PacketConn()
	pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 1500)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[:n], krpc) || from.(*net.UDPAddr).AddrPort() != peer.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("got %q from %v", buf[:n], from)
	}
	// And the reply leaves from the same port.
	if _, err := pc.WriteTo([]byte("d1:y1:re"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, src, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil || src != s.AddrPort() {
		t.Fatalf("reply from %v (%v), want %v", src, err, s.AddrPort())
	}
}

func TestDialCanceled(t *testing.T) {
	s := listenT(t)
	// A UDP socket that never answers.
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		buf := make([]byte, 1500)
		silent.ReadFromUDP(buf) // the SYN arrived
		cancel()
	}()
	_, err = s.Dial(ctx, silent.LocalAddr().(*net.UDPAddr).AddrPort())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v, want context.Canceled", err)
	}
}

func TestSocketCloseEndsConnections(t *testing.T) {
	a, b := listenT(t), listenT(t)
	d, _ := connPair(t, a, b)
	done := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 1))
		done <- err
	}()
	a.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read on a closed socket: %v", err)
	}
	if _, err := a.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed socket: %v", err)
	}
}

// transfer sends n random bytes from a to b over one connection and
// checks they arrive intact; it returns the sender's counters.
func transfer(t *testing.T, a, b *Socket, n int) Stats {
	t.Helper()
	d, acc := connPair(t, a, b)
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	want := sha256.Sum256(data)
	errs := make(chan error, 1)
	go func() {
		_, err := d.Write(data)
		errs <- err
	}()
	acc.SetReadDeadline(time.Now().Add(60 * time.Second))
	h := sha256.New()
	if _, err := io.CopyN(h, acc, int64(n)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("received bytes differ from the sent ones")
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return d.(*Conn).Stats()
}

// dropData loses every nth data packet on its first sending; a counter per
// socket, so no state is shared between tests.
func dropData(every int) func([]byte) bool {
	var mu sync.Mutex
	seen := map[uint16]bool{}
	count := 0
	return func(b []byte) bool {
		var h header
		if _, err := h.parse(b); err != nil || h.typ != stData {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[h.seq] {
			return false
		}
		seen[h.seq] = true
		count++
		return count%every == 0
	}
}

func TestLossRecoveredBySelectiveAcks(t *testing.T) {
	a, b := lossy(t, dropData(50)), listenT(t)
	st := transfer(t, a, b, 4<<20)
	if st.FastResent == 0 {
		t.Fatalf("no fast retransmission with 2%% of data packets lost: %+v", st)
	}
}

func TestLostResendSentAgainFromSelectiveAcks(t *testing.T) {
	// The 10th data packet is lost on its first two sendings: the
	// selective acks of the packets sent after its resend show the resend
	// lost too, and it goes a third time, counted as a fast resend.
	var mu sync.Mutex
	first, dropped := true, 0
	var lostSeq uint16
	a, b := lossy(t, func(p []byte) bool {
		var h header
		if _, err := h.parse(p); err != nil || h.typ != stData {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		if first {
			first, lostSeq = false, h.seq+9
		}
		if h.seq != lostSeq || dropped == 2 {
			return false
		}
		dropped++
		return true
	}), listenT(t)
	st := transfer(t, a, b, 4<<20)
	if st.FastResent < 2 {
		t.Fatalf("a resend lost again was not resent from the selective acks: %+v", st)
	}
}

func TestClosedConnectionLogsItsStats(t *testing.T) {
	a, b := listenT(t), listenT(t)
	var buf testutil.Buffer
	a.SetLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	d, acc := connPair(t, a, b)
	if _, err := d.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, acc, 100_000); err != nil {
		t.Fatal(err)
	}
	sent := d.(*Conn).Stats().PacketsSent
	a.Close() // ends d at once
	line := buf.String()
	if !strings.Contains(line, "utp connection closed") || !strings.Contains(line, "stats.sent=") || !strings.Contains(line, "stats.slow_start_exits=") {
		t.Fatalf("log after the connection ended: %q; want its stats", line)
	}
	if sent < 3 {
		t.Fatalf("Stats counted %d packets sent for 100 kB", sent)
	}
}

func TestLossOfATailRecoveredByTimeout(t *testing.T) {
	// Losing every other packet of a small transfer leaves gaps that no
	// later packet reveals: only the retransmission timer recovers them.
	a, b := lossy(t, dropData(2)), listenT(t)
	st := transfer(t, a, b, 3*(loopbackDatagram-headerLen))
	if st.Timeouts == 0 {
		t.Fatalf("no retransmission timeout: %+v", st)
	}
}

func TestIPv6Loopback(t *testing.T) {
	var socks [2]*Socket
	for i := range socks {
		s, err := Listen(netip.MustParseAddrPort("[::1]:0"))
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		socks[i] = s
	}
	d, acc := connPair(t, socks[0], socks[1])
	if _, err := d.Write([]byte("over ::1")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(acc, buf); err != nil || string(buf) != "over ::1" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if got := acc.RemoteAddr().(*net.UDPAddr).AddrPort(); got != socks[0].AddrPort() {
		t.Fatalf("accepted connection from %v, want %v", got, socks[0].AddrPort())
	}
}

func TestIdleConnectionTimesOut(t *testing.T) {
	a, b := listenT(t), listenT(t)
	d, _ := connPair(t, a, b)
	c := d.(*Conn)
	c.mu.Lock()
	c.tick(c.lastRecv.Add(idleTimeout + time.Second))
	err := c.err
	c.mu.Unlock()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after %v of silence: %v", idleTimeout, err)
	}
}

// TestDialFollowsTheLastSynAck plays libtorrent answering a resent SYN:
// it opens a second connection, with its own sequence numbers, that gets
// every later packet. Its data must be delivered, and our packets must
// ack in its sequence space.
func TestDialFollowsTheLastSynAck(t *testing.T) {
	s := listenT(t)
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.SetDeadline(time.Now().Add(20 * time.Second))
	ours := s.AddrPort()
	send := func(h header, payload string) {
		t.Helper()
		if _, err := peer.WriteToUDPAddrPort(append(h.append(nil), payload...), ours); err != nil {
			t.Fatal(err)
		}
	}
	type dialed struct {
		c   net.Conn
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := s.Dial(ctx, peer.LocalAddr().(*net.UDPAddr).AddrPort())
		done <- dialed{c, err}
	}()
	buf := make([]byte, 1500)
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var syn header
	if _, err := syn.parse(buf[:n]); err != nil || syn.typ != stSyn {
		t.Fatalf("first datagram %x is not a SYN (%v)", buf[:n], err)
	}
	const first, second = 1000, 2000
	send(header{typ: stState, connID: syn.connID, wnd: 1 << 20, seq: first, ack: syn.seq}, "")
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.c.Close()
	send(header{typ: stState, connID: syn.connID, wnd: 1 << 20, seq: second, ack: syn.seq}, "")
	send(header{typ: stData, connID: syn.connID, wnd: 1 << 20, seq: second, ack: syn.seq}, "world")

	d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 5)
	if _, err := io.ReadFull(d.c, got); err != nil || string(got) != "world" {
		t.Fatalf("data of the second connection: read %q, %v", got, err)
	}
	if _, err := d.c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	for {
		n, _, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("waiting for our data: %v", err)
		}
		var h header
		payload, err := h.parse(buf[:n])
		if err != nil || h.typ != stData {
			continue
		}
		if h.ack != second || string(payload) != "hello" {
			t.Fatalf("our data %q acks %d; want \"hello\" acking %d", payload, h.ack, second)
		}
		return
	}
}

// TestSilentPeerGivesUp: a peer that stops answering altogether (as
// libtorrent does when it drops a connection) ends the connection within
// about half a minute of retransmission timeouts from the RTO floor, so
// that the user of the connection can reconnect.
func TestSilentPeerGivesUp(t *testing.T) {
	s, err := newSocket(loopback, func([]byte) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newConn(s, netip.MustParseAddrPort("127.0.0.1:9"), 1, 2)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = stateConnected
	c.rto = minRTO
	start := time.Unix(1e9, 0)
	c.lastRecv = start
	c.sendQ.write([]byte("request"))
	c.flush(start)
	now := start
	for c.err == nil {
		if now.Sub(start) > time.Minute {
			t.Fatalf("still trying after %v of silence: %+v", now.Sub(start), c.stats)
		}
		now = c.rtoAt
		c.tick(now)
	}
	if !errors.Is(c.err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection ended with %v", c.err)
	}
	if took := now.Sub(start); took > 40*time.Second {
		t.Fatalf("gave up after %v of silence (%d timeouts); want about 30 s", took, c.stats.Timeouts)
	}
}

// TestPeerIgnoringOurWindowIsBounded: a peer that keeps sending past the
// window we advertise, in order and out of order, while nothing reads,
// cannot make the connection hold more than the window (and a datagram).
func TestPeerIgnoringOurWindowIsBounded(t *testing.T) {
	s, err := newSocket(loopback, func([]byte) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newConn(s, netip.MustParseAddrPort("127.0.0.1:9"), 1, 2)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = stateConnected
	now := time.Unix(1e9, 0)
	payload := make([]byte, 60<<10)
	for i := range 400 { // 24 MB: six windows
		h := header{typ: stData, seq: c.ackNr + 1}
		if i%2 == 1 {
			h.seq = c.ackNr + 2 + uint16(i) // out of order
		}
		c.receive(&h, payload, now)
	}
	if held := c.readQ.len() + c.oooBytes; held > recvBufSize+loopbackDatagram {
		t.Fatalf("holding %d bytes nobody read, over the window %d", held, recvBufSize)
	}
}

// TestPacketConnsByFamily: a socket on every address of both families
// hands the non-uTP datagrams of IPv4 senders to one PacketConn and those
// of IPv6 senders to the other, each answering from the socket's port.
func TestPacketConnsByFamily(t *testing.T) {
	s, err := Listen(netip.MustParseAddrPort("[::]:0"))
	if err != nil {
		t.Skipf("no dual-stack socket here: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	peer6, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer peer6.Close()
	peer4, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	defer peer4.Close()
	v4, v6 := s.PacketConns()
	if a, b := s.PacketConns(); a != v4 || b != v6 {
		t.Fatal("a second PacketConns call split the socket again")
	}
	if got := v4.LocalAddr().String(); got != netip.AddrPortFrom(netip.IPv4Unspecified(), s.AddrPort().Port()).String() {
		t.Errorf("IPv4 side's address %s", got)
	}
	port := s.AddrPort().Port()
	// The IPv6 datagram first: the IPv4 side must not see it.
	for _, c := range []struct {
		peer *net.UDPConn
		to   netip.AddrPort
		pc   net.PacketConn
	}{
		{peer6, netip.AddrPortFrom(netip.IPv6Loopback(), port), v6},
		{peer4, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), v4},
	} {
		krpc := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
		if _, err := c.peer.WriteToUDPAddrPort(krpc, c.to); err != nil {
			t.Fatal(err)
		}
		c.pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 1500)
		n, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		want := c.peer.LocalAddr().(*net.UDPAddr).AddrPort()
		if got := from.(*net.UDPAddr).AddrPort(); !bytes.Equal(buf[:n], krpc) || got.Addr().Unmap() != want.Addr().Unmap() || got.Port() != want.Port() {
			t.Fatalf("got %q from %v, want it from %v", buf[:n], from, want)
		}
		if _, err := c.pc.WriteTo([]byte("d1:y1:re"), from); err != nil {
			t.Fatal(err)
		}
		c.peer.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, src, err := c.peer.ReadFromUDPAddrPort(buf); err != nil || src.Port() != port {
			t.Fatalf("reply from %v (%v), want port %d", src, err, port)
		}
	}
}
