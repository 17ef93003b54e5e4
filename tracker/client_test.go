package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func idOf(n int) (id [20]byte) {
	copy(id[:], fmt.Sprintf("-TS0001-%012d", n))
	return id
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
}
