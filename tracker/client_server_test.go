package tracker_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/tracker/server"
)

// The client against this module's own server, over HTTP and UDP.

// startServer runs a Server on loopback HTTP and UDP for the test and
// returns its announce URLs.
func startServer(t *testing.T, cfg server.Config) (s *server.Server, httpURL, udpURL string) {
	t.Helper()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	httpURL, udpURL = testutil.ServeTracker(t, s.ListenAndServe)
	return s, httpURL, udpURL
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func hashOf(n int) (h [20]byte) {
	h[0], h[1], h[19] = byte(n>>8), byte(n), 0xAB
	return h
}

func idOf(n int) (id [20]byte) {
	copy(id[:], fmt.Sprintf("-TS0001-%012d", n))
	return id
}

func TestClientAgainstServer(t *testing.T) {
	_, httpURL, udpURL := startServer(t, server.Config{Interval: 10 * time.Minute})
	for _, url := range []string{httpURL, udpURL} {
		t.Run(url[:4], func(t *testing.T) {
			var c tracker.Client
			ctx := testCtx(t)
			h := hashOf(len(url))
			seed := tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(1), Port: 7001, Left: 0, Event: tracker.EventStarted}
			r, err := c.Announce(ctx, url, seed)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Peers) != 0 || r.Complete != 1 || r.Interval != 10*time.Minute {
				t.Fatalf("first announce: %+v", r)
			}
			leech := tracker.AnnounceRequest{InfoHash: h, PeerID: idOf(2), Port: 7002, Left: 10, Event: tracker.EventStarted, NumWant: 10}
			r, err = c.Announce(ctx, url, leech)
			if err != nil {
				t.Fatal(err)
			}
			want := netip.MustParseAddrPort("127.0.0.1:7001")
			if len(r.Peers) != 1 || r.Peers[0] != want || r.Incomplete != 1 || r.Complete != 1 {
				t.Fatalf("leecher got %+v, want the seeder %v", r, want)
			}
			st, err := c.Scrape(ctx, url, h, hashOf(999))
			if err != nil {
				t.Fatal(err)
			}
			if st[h] != (tracker.ScrapeStats{Complete: 1, Incomplete: 1}) {
				t.Fatalf("scrape %+v", st)
			}
			leech.Event = tracker.EventStopped
			if _, err := c.Announce(ctx, url, leech); err != nil {
				t.Fatal(err)
			}
			if st, _ := c.Scrape(ctx, url, h); st[h].Incomplete != 0 {
				t.Fatalf("stopped leecher still counted: %+v", st[h])
			}
		})
	}
}

func TestClientFailureReasonIsNotRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allow")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := server.LoadAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	_, httpURL, udpURL := startServer(t, server.Config{Allow: list})
	for _, url := range []string{httpURL, udpURL} {
		var c tracker.Client
		_, err := c.Announce(testCtx(t), url, tracker.AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 1})
		var f *tracker.FailureError
		if !errors.Is(err, tracker.ErrFailure) || !errors.As(err, &f) || !strings.Contains(f.Reason, "does not serve") {
			t.Fatalf("%s: err %v, want a failure reason", url, err)
		}
	}
}

func TestAnnounceTiersPromotesTheOneThatAnswered(t *testing.T) {
	_, good, _ := startServer(t, server.Config{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/announce"
	ln.Close() // nothing listens there now: connection refused
	tiers := tracker.NewTiers([][]string{{dead}, {"", dead, good}, {}})
	var c tracker.Client
	req := tracker.AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 1}
	_, url, err := c.AnnounceTiers(testCtx(t), tiers, req)
	if err != nil || url != good {
		t.Fatalf("answered by %q, err %v; want %q", url, err, good)
	}
	got := tiers.URLs()
	if len(got) != 2 || got[1][0] != good || len(got[1]) != 2 {
		t.Fatalf("tiers after: %v", got)
	}
	if _, _, err := c.AnnounceTiers(testCtx(t), tracker.NewTiers(nil), req); !errors.Is(err, tracker.ErrNoTrackers) {
		t.Fatalf("empty tiers: %v", err)
	}
	_, _, err = c.AnnounceTiers(testCtx(t), tracker.NewTiers([][]string{{dead}}), req)
	if err == nil || !strings.Contains(err.Error(), "no tracker answered") {
		t.Fatalf("all dead: %v", err)
	}
}
