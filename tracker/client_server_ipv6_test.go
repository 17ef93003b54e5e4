package tracker_test

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/tracker/server"
)

// requireIPv6Loopback stops the test when ::1 cannot be bound.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on this machine (%v): check `ip -6 addr show lo`", err)
	}
	ln.Close()
}

// TestClientAgainstServerIPv6: announces over IPv6 (HTTP and UDP) to a
// tracker listening on [::1] only register the announcer's IPv6 address,
// and a second peer gets it back (BEP 7 peers6 over HTTP, 18-byte peers
// over UDP).
func TestClientAgainstServerIPv6(t *testing.T) {
	requireIPv6Loopback(t)
	s, err := server.New(server.Config{Interval: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	httpURL, udpURL := testutil.ServeTrackerOn(t, s.ListenAndServe, "[::1]:0", "[::1]:0")
	if !strings.Contains(httpURL, "[::1]") || !strings.Contains(udpURL, "[::1]") {
		t.Fatalf("announce URLs %s %s are not on [::1]", httpURL, udpURL)
	}
	for _, url := range []string{httpURL, udpURL} {
		t.Run(url[:4], func(t *testing.T) {
			var c tracker.Client
			ctx := testCtx(t)
			h := hashOf(6 + len(url))
			if _, err := c.Announce(ctx, url, tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(1), Port: 7001, Event: tracker.EventStarted}); err != nil {
				t.Fatal(err)
			}
			r, err := c.Announce(ctx, url, tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(2), Port: 7002, Left: 1, Event: tracker.EventStarted, NumWant: 10})
			if err != nil {
				t.Fatal(err)
			}
			want := netip.MustParseAddrPort("[::1]:7001")
			if len(r.Peers) != 1 || r.Peers[0] != want {
				t.Fatalf("second peer got %v, want %v", r.Peers, want)
			}
		})
	}
}

// TestUDPTrackerNameFallsBackToTheAddressThatAnswers: a UDP tracker whose
// name has an IPv6 and an IPv4 address but answers on one of them is
// reached all the same, and the next announce goes to the address that
// answered first.
func TestUDPTrackerNameFallsBackToTheAddressThatAnswers(t *testing.T) {
	requireIPv6Loopback(t)
	for _, tc := range []struct {
		name   string
		listen string // where the tracker answers
		other  string // the name's other address
		silent bool   // something reads the other address and never answers
	}{
		{"ipv6 refused", "127.0.0.1:0", "::1", false},
		{"ipv4 silent", "[::1]:0", "127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := server.New(server.Config{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			_, udpURL := testutil.ServeTrackerOn(t, s.ListenAndServe, "127.0.0.1:0", tc.listen)
			good := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(udpURL, "udp://"), "/announce"))
			other := netip.AddrPortFrom(netip.MustParseAddr(tc.other), good.Port())
			if tc.silent {
				pc, err := net.ListenPacket("udp", other.String())
				if err != nil {
					t.Skipf("cannot hold %s for the silent address: %v", other, err)
				}
				t.Cleanup(func() { pc.Close() })
			}
			var logs testutil.Buffer
			c := &tracker.Client{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			tracker.SetLookupHost(c, func(context.Context, string) ([]netip.Addr, error) {
				return []netip.Addr{other.Addr(), good.Addr()}, nil // the broken one first
			})
			url := "udp://tracker.invalid:" + strconv.Itoa(int(good.Port())) + "/announce"
			// The attempt's time is shared: a silent address keeps half.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req := tracker.AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 7001}
			if _, err := c.Announce(ctx, url, req); err != nil {
				t.Fatal(err)
			}
			first := logs.String()
			if !strings.Contains(first, "trying the next") {
				t.Fatalf("no fallback logged:\n%s", first)
			}
			if _, err := c.Announce(ctx, url, req); err != nil {
				t.Fatal(err)
			}
			if again := strings.TrimPrefix(logs.String(), first); strings.Contains(again, "trying the next") {
				t.Errorf("the second announce tried the broken address again:\n%s", again)
			}
		})
	}
}
