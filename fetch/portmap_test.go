package fetch

import (
	"net"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/torfs/torfs/internal/testutil"
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
