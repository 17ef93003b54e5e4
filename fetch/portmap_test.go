package fetch

import (
	"net"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/wire"
)

// fakeMapping is a PortMapping whose external port the test sets.
type fakeMapping struct {
	ext    atomic.Uint32
	closed atomic.Bool
}

func (m *fakeMapping) ExternalPort() uint16 { return uint16(m.ext.Load()) }
func (m *fakeMapping) String() string       { return "mapped by a fake" }
func (m *fakeMapping) Close() error         { m.closed.Store(true); return nil }

// TestPortMappingAnnouncesExternalPort: the mapping starts with the
// first torrent, for the port the Client listens on; trackers get that
// port until the router forwards another, and the new one at once when
// it does; Close removes the mapping.
func TestPortMappingAnnouncesExternalPort(t *testing.T) {
	fake := &fakeMapping{}
	var (
		calls   atomic.Int32
		mapped  atomic.Uint32
		changed atomic.Pointer[func()]
	)
	c := newTestClient(t, Config{MapPort: func(port uint16, ch func()) PortMapping {
		calls.Add(1)
		mapped.Store(uint32(port))
		changed.Store(&ch)
		return fake
	}})
	if calls.Load() != 0 || c.PortMapping() != "" {
		t.Fatalf("a Client without torrents mapped its port (%d calls, %q)", calls.Load(), c.PortMapping())
	}
	log := &announceLog{}
	srv := httptest.NewServer(log)
	t.Cleanup(srv.Close)
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Trackers: [][]string{{srv.URL + "/announce"}}})
	listen := c.Addr().(*net.TCPAddr).Port
	if calls.Load() != 1 || int(mapped.Load()) != listen {
		t.Fatalf("MapPort called %d times with port %d, want once with %d", calls.Load(), mapped.Load(), listen)
	}
	if got := c.PortMapping(); got != "mapped by a fake" {
		t.Errorf("PortMapping() = %q", got)
	}
	testutil.Eventually(t, "the first announce", func() bool { return len(log.events()) >= 1 })
	if got := log.events()[0]["port"]; got != strconv.Itoa(listen) {
		t.Errorf("announced port %s before the mapping, want the listening port %d", got, listen)
	}

	fake.ext.Store(40000)
	(*changed.Load())()
	testutil.Eventually(t, "an announce of the external port", func() bool {
		ev := log.events()
		return len(ev) >= 2 && ev[len(ev)-1]["port"] == "40000"
	})
	if n := len(log.events()); n != 2 {
		t.Errorf("%d announces, want 2", n)
	}

	c.Close()
	if !fake.closed.Load() {
		t.Error("Close left the port mapping in place")
	}
}

// TestExtendedHandshakePortPerFamily: the extended handshake's "p" is
// the router's external port for an IPv4 peer, and the port we listen
// on for an IPv6 peer (port mapping is IPv4 only).
func TestExtendedHandshakePortPerFamily(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("this machine has no ::1 (%v)", err)
	}
	ln.Close()
	fake := &fakeMapping{}
	fake.ext.Store(40000)
	c := newTestClient(t, Config{ListenAddr: "[::]:0", MapPort: func(uint16, func()) PortMapping { return fake }})
	mi, data := testTorrent(t, 1<<20, 64<<10)
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	port := c.listenPort()
	for _, tc := range []struct {
		host string
		want int
	}{{"127.0.0.1", 40000}, {"::1", int(port)}} {
		addr := net.JoinHostPort(tc.host, strconv.Itoa(int(port)))
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		h := wire.Handshake{InfoHash: mi.InfoHash}
		h.Reserved.SetExtended(true)
		copy(h.PeerID[:], "-XX0001-port-"+tc.host) // a peer of its own per family
		if err := wire.WriteHandshake(conn, h); err != nil {
			t.Fatal(err)
		}
		if _, err := wire.ReadHandshake(conn); err != nil {
			t.Fatalf("handshake over %s: %v", tc.host, err)
		}
		dec := wire.NewDecoder(conn, 64<<10)
		for {
			var m wire.Message
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("reading from torfs over %s: %v", tc.host, err)
			}
			if m.ID != wire.Extended || m.ExtID != 0 {
				continue
			}
			h, err := wire.ParseExtendedHandshake(m.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if h.P != tc.want {
				t.Errorf("extended handshake to a peer at %s says p=%d, want %d", tc.host, h.P, tc.want)
			}
			break
		}
	}
}
