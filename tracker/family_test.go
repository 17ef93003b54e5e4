package tracker_test

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/tracker/server"
)

// dualTracker runs a tracker on 127.0.0.1 and another on [::1], on the
// same ports, and returns their HTTP and UDP announce URLs under the
// name dual.test, with a lookup that gives both addresses, and
// v4only.test, with only the IPv4 one.
func dualTracker(t *testing.T) (urls map[string]string, lookup func(context.Context, string) ([]netip.Addr, error)) {
	t.Helper()
	requireIPv6Loopback(t)
	var serve [2]testutil.ServeFunc
	for i := range serve {
		s, err := server.New(server.Config{Interval: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		serve[i] = s.ListenAndServe
	}
	hp, up := testutil.ServeTrackerDual(t, serve[0], serve[1])
	urls = map[string]string{}
	for _, host := range []string{"dual.test", "v4only.test"} {
		urls["http "+host] = "http://" + host + ":" + strconv.Itoa(hp) + "/announce"
		urls["udp "+host] = "udp://" + host + ":" + strconv.Itoa(up) + "/announce"
	}
	lookup = func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "v4only.test" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, nil
	}
	return urls, lookup
}

// TestAnnounceOverEachFamily: an announce restricted to a family reaches
// the tracker's address of that family only (each of the two trackers
// behind the name learns one of the announcer's addresses), over HTTP and
// UDP; a name without an address of the family fails with
// ErrFamilyUnreachable, and so does AnnounceTiers when no tracker has
// one, but not when a reachable one fails.
func TestAnnounceOverEachFamily(t *testing.T) {
	urls, lookup := dualTracker(t)
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			url := urls[proto+" dual.test"]
			c := &tracker.Client{LookupHost: lookup}
			ctx := testCtx(t)
			h := hashOf(len(proto))
			for _, fam := range []tracker.Family{tracker.IPv4, tracker.IPv6} {
				req := tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(1), Port: 7001, Event: tracker.EventStarted, Family: fam}
				if _, err := c.Announce(ctx, url, req); err != nil {
					t.Fatalf("announce over %s: %v", fam, err)
				}
			}
			// A second peer sees the first in each family, by the
			// address it announced from there.
			for fam, want := range map[tracker.Family]string{tracker.IPv4: "127.0.0.1:7001", tracker.IPv6: "[::1]:7001"} {
				req := tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(2), Port: 7002, Left: 1, NumWant: 10, Family: fam}
				r, err := c.Announce(ctx, url, req)
				if err != nil {
					t.Fatalf("second announce over %s: %v", fam, err)
				}
				if len(r.Peers) != 1 || r.Peers[0] != netip.MustParseAddrPort(want) {
					t.Errorf("over %s the tracker gave %v, want %s", fam, r.Peers, want)
				}
			}

			v4only := urls[proto+" v4only.test"]
			req := tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(3), Port: 7003, Family: tracker.IPv6}
			if _, err := c.Announce(ctx, v4only, req); !errors.Is(err, tracker.ErrFamilyUnreachable) {
				t.Errorf("announce over IPv6 to a name without an IPv6 address: %v", err)
			}
			_, _, err := c.AnnounceTiers(ctx, tracker.NewTiers([][]string{{v4only}}), req)
			if !errors.Is(err, tracker.ErrFamilyUnreachable) {
				t.Errorf("AnnounceTiers over IPv6 to an IPv4-only tracker: %v", err)
			}
			// A reachable tracker that fails is a failure to report.
			dead := proto + "://[::1]:1/announce"
			_, _, err = c.AnnounceTiers(ctx, tracker.NewTiers([][]string{{v4only, dead}}), req)
			if err == nil || errors.Is(err, tracker.ErrFamilyUnreachable) {
				t.Errorf("AnnounceTiers with a dead IPv6 tracker: %v, want a plain failure", err)
			}
		})
	}
}
