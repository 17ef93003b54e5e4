package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startServer runs a Server on loopback HTTP and UDP for the test and
// returns its announce URLs.
func startServer(t *testing.T, cfg Config) (s *Server, httpURL, udpURL string) {
	t.Helper()
	s = newTestServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan [2]net.Addr, 1)
	go func() {
		done <- s.ListenAndServe(ctx, "127.0.0.1:0", "127.0.0.1:0", func(h, u net.Addr) { ready <- [2]net.Addr{h, u} })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case a := <-ready:
		return s, "http://" + a[0].String() + "/announce", "udp://" + a[1].String() + "/announce"
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("tracker did not start")
	}
	return nil, "", ""
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientAgainstServer(t *testing.T) {
	_, httpURL, udpURL := startServer(t, Config{Interval: 10 * time.Minute})
	for _, url := range []string{httpURL, udpURL} {
		t.Run(url[:4], func(t *testing.T) {
			var c Client
			ctx := testCtx(t)
			h := hashOf(len(url))
			seed := AnnounceRequest{InfoHash: h, PeerID: idOf(1), Port: 7001, Left: 0, Event: EventStarted}
			r, err := c.Announce(ctx, url, seed)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Peers) != 0 || r.Complete != 1 || r.Interval != 10*time.Minute {
				t.Fatalf("first announce: %+v", r)
			}
			leech := AnnounceRequest{InfoHash: h, PeerID: idOf(2), Port: 7002, Left: 10, Event: EventStarted, NumWant: 10}
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
			if st[h] != (ScrapeStats{Complete: 1, Incomplete: 1}) {
				t.Fatalf("scrape %+v", st)
			}
			leech.Event = EventStopped
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
	list := &AllowList{}
	empty := map[[20]byte]struct{}{}
	list.set.Store(&empty)
	_, httpURL, udpURL := startServer(t, Config{Allow: list})
	for _, url := range []string{httpURL, udpURL} {
		var c Client
		_, err := c.Announce(testCtx(t), url, AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 1})
		var f *FailureError
		if !errors.Is(err, ErrFailure) || !errors.As(err, &f) || !strings.Contains(f.Reason, "does not serve") {
			t.Fatalf("%s: err %v, want a failure reason", url, err)
		}
	}
}

func TestClientRetriesServerErrors(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("d8:intervali60e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	}))
	defer ts.Close()
	var c Client
	r, err := c.Announce(testCtx(t), ts.URL+"/announce", AnnounceRequest{Port: 1})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 || len(r.Peers) != 1 || r.Peers[0].String() != "127.0.0.1:6881" {
		t.Fatalf("calls %d, answer %+v", calls.Load(), r)
	}
}

func TestClientGivesUpWhenContextEnds(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer ts.Close()
	// Long enough for one attempt on a loaded machine, far shorter than
	// retrying forever.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var c Client
	if _, err := c.Announce(ctx, ts.URL+"/announce", AnnounceRequest{Port: 1}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("err %v, want the last HTTP error", err)
	}
}

func TestAnnounceTiersPromotesTheOneThatAnswered(t *testing.T) {
	_, good, _ := startServer(t, Config{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/announce"
	ln.Close() // nothing listens there now: connection refused
	tiers := NewTiers([][]string{{dead}, {"", dead, good}, {}})
	var c Client
	req := AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 1}
	_, url, err := c.AnnounceTiers(testCtx(t), tiers, req)
	if err != nil || url != good {
		t.Fatalf("answered by %q, err %v; want %q", url, err, good)
	}
	got := tiers.URLs()
	if len(got) != 2 || got[1][0] != good || len(got[1]) != 2 {
		t.Fatalf("tiers after: %v", got)
	}
	if _, _, err := c.AnnounceTiers(testCtx(t), NewTiers(nil), req); !errors.Is(err, ErrNoTrackers) {
		t.Fatalf("empty tiers: %v", err)
	}
	_, _, err = c.AnnounceTiers(testCtx(t), NewTiers([][]string{{dead}}), req)
	if err == nil || !strings.Contains(err.Error(), "no tracker answered") {
		t.Fatalf("all dead: %v", err)
	}
}

func TestParseAnnounceResponse(t *testing.T) {
	r, err := ParseAnnounceResponse([]byte("d8:intervali1800e12:min intervali900e10:tracker id3:abc15:warning message4:slow8:completei3e10:incompletei4e" +
		"5:peersld2:ip8:10.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti6881eed2:ip8:tracker.4:porti1eee" +
		"6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Interval != 30*time.Minute || r.MinInterval != 15*time.Minute || r.TrackerID != "abc" || r.Warning != "slow" || r.Complete != 3 || r.Incomplete != 4 {
		t.Fatalf("%+v", r)
	}
	if len(r.Peers) != 2 || r.Peers[0].String() != "10.0.0.1:6881" || r.Peers[1].String() != "[2001:db8::1]:6881" {
		t.Fatalf("peers %v (the hostname peer must be skipped)", r.Peers)
	}
	for _, bad := range []string{"", "x", "d5:peers5:abcdee", "d6:peers67:abcdefge", "d14:failure reason3:no!e", "li1e", "d8:intervali1e", "999999999:", strings.Repeat("l", 100)} {
		if _, err := ParseAnnounceResponse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := ParseAnnounceResponse([]byte("d14:failure reason7:go awaye")); !errors.Is(err, ErrFailure) || !strings.Contains(err.Error(), "go away") {
		t.Errorf("failure reason: %v", err)
	}
}

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://t.example/announce":            "http://t.example/scrape",
		"http://t.example/x/announce.php?pk=1": "http://t.example/x/scrape.php?pk=1",
		"http://t.example/a":                   "",
	} {
		u, _ := url.Parse(in)
		got, err := scrapeURL(u)
		if want == "" {
			if err == nil {
				t.Errorf("%s: scrape URL %v, want an error", in, got)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
}

func TestUDPServerRejectsForeignConnectionIDs(t *testing.T) {
	_, _, udpURL := startServer(t, Config{})
	conn, err := net.Dial("udp", strings.TrimSuffix(strings.TrimPrefix(udpURL, "udp://"), "/announce"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// An id the server never gave us.
	req := appendUDPAnnounce(nil, 0x1234, 77, AnnounceRequest{InfoHash: hashOf(1), PeerID: idOf(1), Port: 1})
	conn.Write(req)
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(buf) != udpActionError || binary.BigEndian.Uint32(buf[4:]) != 77 || !strings.Contains(string(buf[8:n]), "connect again") {
		t.Fatalf("answer %q", buf[:n])
	}
	// A connection id is bound to the address that asked for it.
	m, err := newConnIDMAC()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, b := netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:1000")
	id := m.make(a, now)
	if !m.valid(id, a, now) || !m.valid(id, a, now.Add(connIDEpoch)) {
		t.Fatal("fresh id refused")
	}
	if m.valid(id, b, now) || m.valid(id, a, now.Add(3*connIDEpoch)) {
		t.Fatal("id accepted from another address or after it expired")
	}
}

func TestAnnounceURLCarriesEverything(t *testing.T) {
	u, _ := url.Parse("http://t.example/announce?passkey=abc")
	req := AnnounceRequest{InfoHash: [20]byte{' ', '+', '%'}, PeerID: idOf(1), Port: 6881, Uploaded: 1, Downloaded: 2, Left: 3,
		Event: EventCompleted, NumWant: 7, Key: 0xbeef, TrackerID: "t 1"}
	got := announceURL(u, req)
	for _, want := range []string{"?passkey=abc&info_hash=%20%2B%25%00", "&port=6881", "&uploaded=1", "&downloaded=2", "&left=3",
		"&compact=1", "&event=completed", "&numwant=7", "&key=beef", "&trackerid=t%201"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	// What we send, our server reads back.
	var q announceQuery
	_, raw, _ := strings.Cut(got, "?")
	if err := parseAnnounceQuery(raw, &q); err != nil || q.infoHash != req.InfoHash || q.peerID != req.PeerID || q.left != 3 || q.event != EventCompleted || q.numWant != 7 {
		t.Fatalf("round trip: %+v %v", q, err)
	}
}
