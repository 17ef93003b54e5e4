package webui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/torfs/torfs/mount"
)

// fakeSource serves a fixed status whose verified piece count goes up at
// every call, and counts the calls.
type fakeSource struct {
	calls atomic.Int64
}

func (f *fakeSource) Status() mount.Status {
	n := int(f.calls.Add(1))
	return mount.Status{
		Listen: "127.0.0.1:6881", CacheUsed: 3 << 20, CacheBudget: 8 << 20,
		Torrents: []mount.TorrentStatus{{
			Name: "film", InfoHash: "0123456789abcdef0123456789abcdef01234567", Length: 10 << 20, Verified: 3 << 20,
			DownloadRate: 1500, UploadRate: 20, Downloaded: 4 << 20, Uploaded: 1 << 10, Wasted: 16 << 10,
			CacheUsed: 3 << 20, CacheBudget: 8 << 20, Evictions: 2, Readers: 1, Stalls: 1,
			PieceLength: 1 << 20,
			PieceCounts: mount.PieceCounts{Verified: 3, Downloading: 1, Wanted: 2, Evicted: 1, Missing: 3},
			PieceMap:    "3vd2we3.",
			Peers: []mount.PeerStatus{
				{Addr: "127.0.0.1:5000", Client: "LT2080", Transport: "tcp", Seed: true},
				{Addr: "127.0.0.1:5001", Client: "TF0001", Transport: "utp", Encrypted: true},
				{Addr: "127.0.0.1:5002", Client: "TF0001", Transport: "utp"},
			},
			Files: []mount.FileStatus{{Path: "film.mkv", Length: 10 << 20, Verified: 3 << 20, PieceMap: "3vd2we3.",
				URL: "/t/0123456789abcdef0123456789abcdef01234567/film.mkv"}},
		}},
		Resolving: []mount.ResolvingStatus{{Name: "other", InfoHash: "89ab", State: "resolving metadata", Seconds: float64(n)}},
	}
}

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Result()
}

func TestState(t *testing.T) {
	h := New(&fakeSource{}, Options{})
	res := get(t, h, "/api/state")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/state: %s, %s", res.Status, res.Header.Get("Content-Type"))
	}
	var st map[string]any
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	tor := st["torrents"].([]any)[0].(map[string]any)
	file := tor["files"].([]any)[0].(map[string]any)
	if tor["piece_map"] != "3vd2we3." || tor["piece_counts"].(map[string]any)["wanted"] != 2.0 ||
		file["url"] != "/t/0123456789abcdef0123456789abcdef01234567/film.mkv" || st["listen"] != "127.0.0.1:6881" {
		t.Errorf("state: %v", st)
	}
}

func TestPageAndAssets(t *testing.T) {
	h := New(&fakeSource{}, Options{})
	res := get(t, h, "/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `src="assets/app.js"`) {
		t.Fatalf("GET /: %s %s\n%s", res.Status, res.Header.Get("Content-Type"), body)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("the page's Content-Security-Policy is %q", csp)
	}
	for path, typ := range map[string]string{"/assets/app.js": "text/javascript", "/assets/app.css": "text/css"} {
		if res := get(t, h, path); res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), typ) {
			t.Errorf("GET %s: %s %s", path, res.Status, res.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/nope", "/t/0123/film.mkv", "/assets/nope.js", "/api"} {
		if res := get(t, h, path); res.StatusCode != 404 {
			t.Errorf("GET %s: %s, want 404 (another handler's path)", path, res.Status)
		}
	}
}

// TestEventsUntilDisconnect reads a few events, then goes away: the
// handler must return, and stop asking the source.
func TestEventsUntilDisconnect(t *testing.T) {
	src := &fakeSource{}
	h := New(src, Options{Interval: 5 * time.Millisecond})
	var returned sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		returned.Add(1)
		defer returned.Done()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rctx, disconnect := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(rctx, "GET", srv.URL+"/api/events", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	var seconds []float64
	for len(seconds) < 3 && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var st mount.Status
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		if len(st.Torrents) != 1 || st.Torrents[0].PieceMap != "3vd2we3." {
			t.Fatalf("event: %+v", st)
		}
		seconds = append(seconds, st.Resolving[0].Seconds)
	}
	if len(seconds) < 3 || !(seconds[0] < seconds[1] && seconds[1] < seconds[2]) {
		t.Fatalf("events: %v (%v), want 3 fresh states", seconds, sc.Err())
	}
	disconnect()
	done := make(chan struct{})
	go func() { returned.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the event stream went on after the client disconnected")
	}
}

func TestMetrics(t *testing.T) {
	h := New(&fakeSource{}, Options{})
	res := get(t, h, "/metrics")
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", res.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	// value finds the metric with the given labels (a subset).
	value := func(name string, labels map[string]string) (float64, bool) {
		f, ok := fams[name]
		if !ok {
			return 0, false
		}
	next:
		for _, m := range f.Metric {
			got := map[string]string{}
			for _, l := range m.Label {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
		return 0, false
	}
	film := map[string]string{"torrent": "film", "info_hash": "0123456789abcdef0123456789abcdef01234567"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range film {
			m[a] = b
		}
		return m
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"torfs_torrents", nil, 1},
		{"torfs_cache_used_bytes", nil, 3 << 20},
		{"torfs_cache_budget_bytes", nil, 8 << 20},
		{"torfs_magnets_resolving", map[string]string{"state": "resolving metadata"}, 1},
		{"torfs_magnets_resolving", map[string]string{"state": "failed"}, 0},
		{"torfs_torrent_size_bytes", film, 10 << 20},
		{"torfs_torrent_verified_bytes", film, 3 << 20},
		{"torfs_torrent_pieces", with("state", "verified"), 3},
		{"torfs_torrent_pieces", with("state", "downloading"), 1},
		{"torfs_torrent_pieces", with("state", "wanted"), 2},
		{"torfs_torrent_pieces", with("state", "evicted"), 1},
		{"torfs_torrent_pieces", with("state", "missing"), 3},
		{"torfs_torrent_download_rate_bytes_per_second", film, 1500},
		{"torfs_torrent_upload_rate_bytes_per_second", film, 20},
		{"torfs_torrent_downloaded_bytes_total", film, 4 << 20},
		{"torfs_torrent_uploaded_bytes_total", film, 1 << 10},
		{"torfs_torrent_wasted_bytes_total", film, 16 << 10},
		{"torfs_torrent_peers", with("transport", "tcp"), 1},
		{"torfs_torrent_peers", with("transport", "utp"), 2},
		{"torfs_torrent_seeds", film, 1},
		{"torfs_torrent_cache_used_bytes", film, 3 << 20},
		{"torfs_torrent_cache_budget_bytes", film, 8 << 20},
		{"torfs_torrent_cache_evictions_total", film, 2},
		{"torfs_torrent_cache_disk_full", film, 0},
		{"torfs_torrent_readers", film, 1},
		{"torfs_torrent_reader_stalls_total", film, 1},
	} {
		got, ok := value(c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if f := fams["torfs_torrent_downloaded_bytes_total"]; f == nil || f.GetType().String() != "COUNTER" {
		t.Errorf("torfs_torrent_downloaded_bytes_total is not a counter: %v", f)
	}
}

// TestREADMEListsMetrics fails when a metric of the mount is missing
// from the README's list.
func TestREADMEListsMetrics(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(&fakeSource{}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) < 10 {
		t.Fatalf("only %d metrics gathered", len(fams))
	}
	for _, f := range fams {
		if !strings.Contains(string(readme), "`"+f.GetName()+"`") {
			t.Errorf("the README does not list the metric %s", f.GetName())
		}
	}
}
