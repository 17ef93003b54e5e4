package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/bencode"
)

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// esc percent-encodes b for a query the way tracker.Client does: every
// byte but RFC 3986's unreserved ones.
func esc(b [20]byte) string {
	var sb strings.Builder
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

// get runs one request through the handler from remote and returns the
// decoded bencoded body.
func get(t *testing.T, s *Server, remote, target string, hdr ...string) map[string]any {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("%s: status %d %q", target, w.Code, w.Body)
	}
	var out map[string]any
	if err := bencode.DecodeBytes(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s: answer %q is not bencoded: %v", target, w.Body, err)
	}
	return out
}

func announceQ(h [20]byte, peer int, extra string) string {
	return fmt.Sprintf("/announce?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=100%s", esc(h), esc(idOf(peer)), 6000+peer, extra)
}

func TestAnnounceParameterErrors(t *testing.T) {
	s := newTestServer(t, Config{})
	h := esc(hashOf(1))
	id := esc(idOf(1))
	cases := map[string]string{
		"/announce?peer_id=" + id + "&port=1":                                    "info_hash: missing",
		"/announce?info_hash=abc&peer_id=" + id + "&port=1":                      "info_hash: must be 20 bytes",
		"/announce?info_hash=" + h + "%41&peer_id=" + id + "&port=1":             "info_hash: must be 20 bytes",
		"/announce?info_hash=" + h + "&port=1":                                   "peer_id: missing",
		"/announce?info_hash=" + h + "&peer_id=%zz&port=1":                       "peer_id: must be 20 bytes",
		"/announce?info_hash=" + h + "&peer_id=" + id:                            "port: missing",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=0":                "port: must be",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=65536":            "port: must be",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=x":                "port: must be",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&uploaded=-1":    "uploaded:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&downloaded=1e3": "downloaded:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&left=":          "left:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&event=begun":    "event:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&compact=2":      "compact:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&numwant=-5":     "numwant:",
		"/announce?info_hash=" + h + "&peer_id=" + id + "&port=1&ip=not-an-ip":   "ip:",
		"/scrape":                 "info_hash: missing",
		"/scrape?info_hash=short": "info_hash: must be 20 bytes",
	}
	for target, want := range cases {
		out := get(t, s, "127.0.0.1:5000", target)
		reason, _ := out["failure reason"].(string)
		if !strings.HasPrefix(reason, want) {
			t.Errorf("%s: failure reason %q, want it to start with %q", target, reason, want)
		}
	}
}

func TestAnnounceCompactDictAndPeers6(t *testing.T) {
	s := newTestServer(t, Config{Interval: time.Hour, MinInterval: time.Minute})
	h := hashOf(1)
	get(t, s, "10.0.0.1:4000", announceQ(h, 1, "&event=started"))
	get(t, s, "[2001:db8::2]:4000", announceQ(h, 2, "&event=started"))
	out := get(t, s, "10.0.0.3:4000", announceQ(h, 3, "&compact=1"))
	if out["interval"] != int64(3600) || out["min interval"] != int64(60) {
		t.Fatalf("intervals %v %v", out["interval"], out["min interval"])
	}
	if out["complete"] != int64(0) || out["incomplete"] != int64(3) {
		t.Fatalf("counts complete=%v incomplete=%v", out["complete"], out["incomplete"])
	}
	if p := out["peers"].(string); p != "\x0a\x00\x00\x01\x17\x71" { // 10.0.0.1:6001
		t.Fatalf("compact peers %x", p)
	}
	p6 := out["peers6"].(string)
	want6 := netip.MustParseAddr("2001:db8::2").As16()
	if len(p6) != 18 || p6[:16] != string(want6[:]) || p6[16:] != "\x17\x72" {
		t.Fatalf("peers6 %x", p6)
	}

	out = get(t, s, "10.0.0.3:4000", announceQ(h, 3, "&compact=0"))
	list := out["peers"].([]any)
	if len(list) != 2 {
		t.Fatalf("dict peers %v", list)
	}
	found := map[string]bool{}
	for _, e := range list {
		d := e.(map[string]any)
		found[fmt.Sprintf("%v|%v|%v", d["ip"], d["port"], d["peer id"])] = true
	}
	if !found[fmt.Sprintf("10.0.0.1|6001|%s", idOf(1))] || !found[fmt.Sprintf("2001:db8::2|6002|%s", idOf(2))] {
		t.Fatalf("dict peers %v", found)
	}
	out = get(t, s, "10.0.0.3:4000", announceQ(h, 3, "&compact=0&no_peer_id=1"))
	for _, e := range out["peers"].([]any) {
		if _, ok := e.(map[string]any)["peer id"]; ok {
			t.Fatal("no_peer_id=1 answer carries peer ids")
		}
	}
}

func TestAnnounceNumWant(t *testing.T) {
	s := newTestServer(t, Config{DefaultNumWant: 5, MaxNumWant: 8})
	h := hashOf(2)
	for i := range 20 {
		get(t, s, fmt.Sprintf("10.0.1.%d:1", i), announceQ(h, i, ""))
	}
	count := func(extra string) int {
		return len(get(t, s, "10.0.2.1:1", announceQ(h, 99, extra))["peers"].(string)) / 6
	}
	if n := count(""); n != 5 {
		t.Errorf("default numwant gave %d peers, want 5", n)
	}
	if n := count("&numwant=3"); n != 3 {
		t.Errorf("numwant=3 gave %d", n)
	}
	if n := count("&numwant=1000"); n != 8 {
		t.Errorf("numwant=1000 gave %d, want the cap 8", n)
	}
	if n := count("&numwant=0"); n != 0 {
		t.Errorf("numwant=0 gave %d", n)
	}
}

func TestAnnounceEvents(t *testing.T) {
	s := newTestServer(t, Config{})
	h := hashOf(3)
	get(t, s, "10.0.0.1:1", announceQ(h, 1, "&event=started"))
	get(t, s, "10.0.0.2:1", announceQ(h, 2, "&event=started"))
	out := get(t, s, "10.0.0.1:1", strings.Replace(announceQ(h, 1, "&event=completed"), "left=100", "left=0", 1))
	if out["complete"] != int64(1) || out["incomplete"] != int64(1) || out["downloaded"] != int64(1) {
		t.Fatalf("after completed: %v", out)
	}
	get(t, s, "10.0.0.2:1", announceQ(h, 2, "&event=stopped"))
	sc := get(t, s, "10.0.0.9:1", "/scrape?info_hash="+esc(h)+"&info_hash="+esc(hashOf(77)))
	files := sc["files"].(map[string]any)
	got := files[string(h[:])].(map[string]any)
	if got["complete"] != int64(1) || got["incomplete"] != int64(0) || got["downloaded"] != int64(1) {
		t.Fatalf("scrape %v", got)
	}
	other := hashOf(77)
	if z := files[string(other[:])].(map[string]any); z["complete"] != int64(0) {
		t.Fatalf("unknown swarm scrape %v", z)
	}
}

func TestScrapeLimit(t *testing.T) {
	s := newTestServer(t, Config{MaxScrape: 2})
	q := "/scrape?info_hash=" + esc(hashOf(1)) + "&info_hash=" + esc(hashOf(2)) + "&info_hash=" + esc(hashOf(3))
	if r, _ := get(t, s, "10.0.0.1:1", q)["failure reason"].(string); !strings.Contains(r, "too many") {
		t.Fatalf("3 hashes over a limit of 2: %q", r)
	}
}

func TestPeerAddress(t *testing.T) {
	h := hashOf(4)
	peerIP := func(s *Server, remote, extra string, hdr ...string) string {
		get(t, s, remote, announceQ(h, 1, extra), hdr...)
		p := get(t, s, "10.9.9.9:1", announceQ(h, 2, ""))["peers"].(string)
		if len(p) != 6 {
			t.Fatalf("peers %x", p)
		}
		return netip.AddrFrom4([4]byte([]byte(p[:4]))).String()
	}
	open := newTestServer(t, Config{})
	if ip := peerIP(open, "10.0.0.1:1", "&ip=10.5.5.5"); ip != "10.0.0.1" {
		t.Errorf("ip parameter honoured without --allow-ip-param: %s", ip)
	}
	if ip := peerIP(open, "10.0.0.1:1", "", "X-Forwarded-For", "10.6.6.6"); ip != "10.0.0.1" {
		t.Errorf("X-Forwarded-For honoured from an untrusted source: %s", ip)
	}
	allowIP := newTestServer(t, Config{AllowIPParam: true})
	if ip := peerIP(allowIP, "10.0.0.1:1", "&ip=10.5.5.5"); ip != "10.5.5.5" {
		t.Errorf("ip parameter ignored with AllowIPParam: %s", ip)
	}
	proxied := newTestServer(t, Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if ip := peerIP(proxied, "127.0.0.1:1", "", "X-Forwarded-For", "10.1.1.1, 10.7.7.7, 127.0.0.2"); ip != "10.7.7.7" {
		t.Errorf("trusted proxy chain gave %s, want the last untrusted hop 10.7.7.7", ip)
	}
}

func TestAllowListAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allow")
	a, b := hashOf(5), hashOf(6)
	write := func(hs ...[20]byte) {
		var sb strings.Builder
		sb.WriteString("# private\n\n")
		for _, h := range hs {
			fmt.Fprintf(&sb, "%x\n", h)
		}
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	list, err := LoadAllowList(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, Config{Allow: list})
	if _, bad := get(t, s, "10.0.0.1:1", announceQ(a, 1, ""))["failure reason"]; bad {
		t.Fatal("allowed hash refused")
	}
	if r, _ := get(t, s, "10.0.0.1:1", announceQ(b, 1, ""))["failure reason"].(string); !strings.Contains(r, "does not serve") {
		t.Fatalf("hash not on the list: %q", r)
	}
	write(b)
	if err := list.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, bad := get(t, s, "10.0.0.1:1", announceQ(b, 1, ""))["failure reason"]; bad {
		t.Fatal("hash added by reload refused")
	}
	os.WriteFile(path, []byte("nothex\n"), 0o644)
	if err := list.Reload(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad file reload error %v", err)
	}
	if !list.Allowed(b) {
		t.Fatal("a failed reload dropped the old list")
	}
}

func TestMetricsStatsAndMethods(t *testing.T) {
	s := newTestServer(t, Config{})
	get(t, s, "10.0.0.1:1", announceQ(hashOf(1), 1, ""))
	get(t, s, "10.0.0.1:1", "/announce?bad")
	body := func(method, target string) (int, string) {
		r := httptest.NewRequest(method, target, nil)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Body)
		return w.Code, string(b)
	}
	_, m := body("GET", "/metrics")
	for _, want := range []string{
		`torfs_tracker_requests_total{kind="announce",outcome="ok",proto="http"} 1`,
		`torfs_tracker_requests_total{kind="announce",outcome="failure",proto="http"} 1`,
		"torfs_tracker_swarms 1", "torfs_tracker_leechers 1", "torfs_tracker_request_duration_seconds_bucket",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if _, st := body("GET", "/stats"); !strings.Contains(st, "swarms    1") || !strings.Contains(st, "announce") {
		t.Errorf("/stats:\n%s", st)
	}
	if code, _ := body("POST", "/announce"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST got %d", code)
	}
	if code, _ := body("GET", "/nothing"); code != http.StatusNotFound {
		t.Errorf("unknown path got %d", code)
	}
}

// TestServeShutsDown checks graceful shutdown over real sockets: a
// cancelled context ends ListenAndServe with no error.
func TestServeShutsDown(t *testing.T) {
	s := newTestServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.ListenAndServe(ctx, "127.0.0.1:0", "127.0.0.1:0", func(h, _ net.Addr) { ready <- h })
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Get("http://" + addr.String() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

// TestKeepAliveConnectionIsBounded: after maxRequestsPerConn requests a
// connection is told to close.
func TestKeepAliveConnectionIsBounded(t *testing.T) {
	_, httpURL, _ := startServer(t, Config{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(httpURL, "/announce"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	for i := 1; ; i++ {
		if _, err := conn.Write([]byte("GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			if i != maxRequestsPerConn {
				t.Fatalf("closed after %d requests, want %d", i, maxRequestsPerConn)
			}
			return
		}
		if i > maxRequestsPerConn {
			t.Fatalf("still open after %d requests", i)
		}
	}
}
