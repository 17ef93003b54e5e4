package fetch

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/tracker/server"
)

// TestAnnounceOverBothFamilies: a client listening on IPv4 and IPv6
// announces to a tracker whose name has both addresses over each family
// (BEP 7), HTTP and UDP alike: the tracker behind each address learns our
// address in its family, and the peers each one returns are merged.
func TestAnnounceOverBothFamilies(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine: %v", err)
	}
	probe.Close()
	var serve [2]testutil.ServeFunc
	for i := range serve {
		s, err := server.New(server.Config{Interval: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		serve[i] = s.ListenAndServe
	}
	httpPort, udpPort := testutil.ServeTrackerDual(t, serve[0], serve[1])
	lookup := func(_ context.Context, host string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	for i, tc := range []struct{ proto, port string }{{"http", strconv.Itoa(httpPort)}, {"udp", strconv.Itoa(udpPort)}} {
		t.Run(tc.proto, func(t *testing.T) {
			mi, _ := testTorrent(t, 256<<10, 64<<10)
			mi.InfoHash[0] ^= byte(i + 1) // a swarm of its own on the shared trackers
			ih := [20]byte(mi.InfoHash)
			url := func(host string) string {
				return tc.proto + "://" + net.JoinHostPort(host, tc.port) + "/announce"
			}
			// One peer known to each family's tracker only.
			other := &tracker.Client{}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			want := map[netip.AddrPort]bool{}
			for _, host := range []string{"127.0.0.1", "::1"} {
				req := tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'o', byte(len(host))}, Port: 7001, Left: 1, Event: tracker.EventStarted}
				if _, err := other.Announce(ctx, url(host), req); err != nil {
					t.Fatal(err)
				}
				want[netip.AddrPortFrom(netip.MustParseAddr(host), 7001)] = true
			}

			c := newTestClient(t, Config{ListenAddr: ":0", trackerLookup: lookup})
			if fams := c.announceFamilies(); len(fams) != 2 {
				t.Fatalf("a client on %v announces in %v, want IPv4 and IPv6", c.Addr(), fams)
			}
			tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Trackers: [][]string{{url("dual.test")}}})
			testutil.Eventually(t, "the peers of both trackers", func() bool {
				tor.mu.Lock()
				defer tor.mu.Unlock()
				n := 0
				for a := range tor.candidates {
					if want[a] {
						n++
					}
				}
				return n == len(want)
			})
			// Each tracker knows us by our address in its family.
			port := uint16(c.Addr().(*net.TCPAddr).Port)
			for _, host := range []string{"127.0.0.1", "::1"} {
				req := tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'c', byte(len(host))}, Port: 7002, Left: 1, NumWant: 10}
				r, err := other.Announce(ctx, url(host), req)
				if err != nil {
					t.Fatal(err)
				}
				us := netip.AddrPortFrom(netip.MustParseAddr(host), port)
				found := false
				for _, p := range r.Peers {
					found = found || p == us
				}
				if !found {
					t.Errorf("the tracker on %s lists %v, not us (%v)", host, r.Peers, us)
				}
			}
		})
	}
}

// TestAnnounceFailingOverOneFamilyIsSaidSo: a tracker whose name has
// both addresses but that answers over IPv4 only is warned of as
// unreachable over IPv6, not as unreachable; the IPv4 announces go on.
func TestAnnounceFailingOverOneFamilyIsSaidSo(t *testing.T) {
	s, err := server.New(server.Config{Interval: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	httpURL, _ := testutil.ServeTrackerOn(t, s.ListenAndServe, "127.0.0.1:0", "127.0.0.1:0")
	port := strings.TrimSuffix(httpURL[strings.LastIndexByte(httpURL, ':')+1:], "/announce")
	// Nothing listens there over IPv6: connections are refused.
	probe, err := net.Listen("tcp", net.JoinHostPort("::1", port))
	if err != nil {
		t.Skipf("[::1]:%s is not free, or no IPv6 loopback: %v", port, err)
	}
	probe.Close()
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	mi, _ := testTorrent(t, 256<<10, 64<<10)
	other := &tracker.Client{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	peer := netip.MustParseAddrPort("127.0.0.1:7001")
	if _, err := other.Announce(ctx, httpURL, tracker.AnnounceRequest{InfoHash: mi.InfoHash, PeerID: [20]byte{'o'}, Port: peer.Port(), Left: 1}); err != nil {
		t.Fatal(err)
	}

	var logs testutil.Buffer
	c := newTestClient(t, Config{ListenAddr: ":0", trackerLookup: lookup, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	c.trackerLog.delay = 0
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Trackers: [][]string{{"http://dual.test:" + port + "/announce"}}})
	testutil.Eventually(t, "the warning", func() bool { return strings.Contains(logs.String(), "over IPv6 unreachable for 1 torrent") })
	testutil.Eventually(t, "the peer the tracker gave over IPv4", func() bool {
		tor.mu.Lock()
		defer tor.mu.Unlock()
		_, ok := tor.candidates[peer]
		return ok
	})
	if out := logs.String(); !strings.Contains(out, "tracker dual.test:"+port+" over IPv6 unreachable") || strings.Contains(out, "over IPv4") {
		t.Errorf("the log does not say IPv6 alone fails:\n%s", out)
	}
}

// TestNoFamilyReachesTracker: on a dual-stack client whose every family
// finds no route to the tracker (an offline host), the announces fail
// as any unreachable tracker does: the warning, the torrent's last error
// and a magnet resolve's last error say so.
func TestNoFamilyReachesTracker(t *testing.T) {
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
	}
	var logs testutil.Buffer
	c := newTestClient(t, Config{ListenAddr: ":0", trackerLookup: lookup, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if fams := c.announceFamilies(); len(fams) != 2 {
		t.Skipf("the client announces over %v, not over each family (no IPv6?)", fams)
	}
	c.trackerLog.delay = 0
	trackers := [][]string{{"http://offline.test:6969/announce"}}
	mi, _ := testTorrent(t, 256<<10, 64<<10)
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Trackers: trackers})
	testutil.Eventually(t, "the warning", func() bool { return strings.Contains(logs.String(), "unreachable for 1 torrent") })
	tor.mu.Lock()
	last := tor.lastError
	tor.mu.Unlock()
	if !strings.Contains(last, "network is unreachable") {
		t.Errorf("the torrent's last error %q does not say the network is unreachable", last)
	}

	other, _ := testTorrent(t, 128<<10, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var said atomic.Bool
	_, _, err := c.Resolve(ctx, &metainfo.Magnet{InfoHash: other.InfoHash}, TorrentOptions{Trackers: trackers}, func(s ResolveStatus) {
		if strings.Contains(s.LastError, "network is unreachable") {
			said.Store(true)
			cancel()
		}
	})
	if !said.Load() {
		t.Errorf("the resolve never said the network is unreachable: %v", err)
	}
}
