package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/tracker"
)

// TestClientQueryRoundTrip: what tracker.Client sends, the server's
// query parser reads back.
func TestClientQueryRoundTrip(t *testing.T) {
	var mu sync.Mutex
	var raw string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		raw = r.URL.RawQuery
		mu.Unlock()
		w.Write([]byte("d8:intervali60e5:peers0:e"))
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := tracker.AnnounceRequest{InfoHash: [20]byte{' ', '+', '%'}, PeerID: idOf(1), Port: 6881, Uploaded: 1, Downloaded: 2, Left: 3,
		Event: tracker.EventCompleted, NumWant: 7, Key: 0xbeef, TrackerID: "t 1"}
	var c tracker.Client
	if _, err := c.Announce(ctx, ts.URL+"/announce?passkey=abc", req); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var q announceQuery
	if err := parseAnnounceQuery(raw, &q); err != nil || q.infoHash != req.InfoHash || q.peerID != req.PeerID || q.left != 3 || q.event != tracker.EventCompleted || q.numWant != 7 {
		t.Fatalf("round trip of %q: %+v %v", raw, q, err)
	}
}
