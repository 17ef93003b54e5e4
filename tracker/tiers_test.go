package tracker

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// idTracker is an HTTP tracker that records the trackerid of every
// announce and answers with the given bodies in turn; past the last it
// is unavailable.
type idTracker struct {
	mu       sync.Mutex
	bodies   []string
	received []string
}

func (it *idTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.received = append(it.received, r.URL.Query().Get("trackerid"))
	if len(it.received) > len(it.bodies) {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte(it.bodies[len(it.received)-1]))
}

func (it *idTracker) ids() []string {
	it.mu.Lock()
	defer it.mu.Unlock()
	return slices.Clone(it.received)
}

func startIDTracker(t *testing.T, bodies ...string) (*idTracker, string) {
	it := &idTracker{bodies: bodies}
	ts := httptest.NewServer(it)
	t.Cleanup(ts.Close)
	return it, ts.URL + "/announce"
}

// TestAnnounceTiersSendsBackTrackerID: the second announce carries the
// tracker id the first answer gave, an answer without one keeps it, and
// each tracker gets back its own id only.
func TestAnnounceTiersSendsBackTrackerID(t *testing.T) {
	a, aURL := startIDTracker(t,
		"d8:intervali60e5:peers0:10:tracker id3:A-1e",
		"d8:intervali60e5:peers0:e")
	b, bURL := startIDTracker(t,
		"d8:intervali60e5:peers0:10:tracker id3:B-7e",
		"d8:intervali60e5:peers0:e")
	tiers := NewTiers([][]string{{aURL}, {bURL}})
	var c Client
	// The caller's TrackerID is nobody's: it must not reach a tracker.
	req := AnnounceRequest{InfoHash: [20]byte{1}, PeerID: idOf(1), Port: 1, TrackerID: "stale"}
	for i, want := range []string{aURL, aURL, bURL, bURL} {
		resp, url, err := c.AnnounceTiers(testCtx(t), tiers, req)
		if err != nil || url != want {
			t.Fatalf("announce %d: answered by %q, err %v; want %q", i+1, url, err, want)
		}
		if i == 0 && resp.TrackerID != "A-1" {
			t.Fatalf("first answer's tracker id %q, want A-1", resp.TrackerID)
		}
	}
	// A is asked four times and answers twice; B is asked after each of
	// A's failures.
	if got, want := a.ids(), []string{"", "A-1", "A-1", "A-1"}; !slices.Equal(got, want) {
		t.Errorf("tracker A received tracker ids %q, want %q", got, want)
	}
	if got, want := b.ids(), []string{"", "B-7"}; !slices.Equal(got, want) {
		t.Errorf("tracker B received tracker ids %q, want %q", got, want)
	}
}

// TestAdoptTrackerIDs: ids another Tiers learned are sent from the first
// announce, but never replace an id this Tiers learned itself.
func TestAdoptTrackerIDs(t *testing.T) {
	a, aURL := startIDTracker(t,
		"d8:intervali60e5:peers0:10:tracker id3:A-1e",
		"d8:intervali60e5:peers0:e")
	first := NewTiers([][]string{{aURL}})
	var c Client
	req := AnnounceRequest{InfoHash: [20]byte{1}, PeerID: idOf(1), Port: 1}
	if _, _, err := c.AnnounceTiers(testCtx(t), first, req); err != nil {
		t.Fatal(err)
	}
	ids := first.TrackerIDs()
	if ids[aURL] != "A-1" {
		t.Fatalf("TrackerIDs = %v, want A-1 for %s", ids, aURL)
	}
	second := NewTiers([][]string{{aURL}})
	second.AdoptTrackerIDs(ids)
	if _, _, err := c.AnnounceTiers(testCtx(t), second, req); err != nil {
		t.Fatal(err)
	}
	if got, want := a.ids(), []string{"", "A-1"}; !slices.Equal(got, want) {
		t.Errorf("tracker received tracker ids %q, want %q", got, want)
	}
	second.AdoptTrackerIDs(map[string]string{aURL: "other"})
	if got := second.TrackerIDs()[aURL]; got != "A-1" {
		t.Errorf("adopting over a known id gave %q, want A-1 kept", got)
	}
	ids["x"] = "changed"
	if _, ok := first.TrackerIDs()["x"]; ok {
		t.Error("TrackerIDs returned the Tiers' own map")
	}
}
