package mount

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestOneServerForStatusAndFiles: with an HTTP address the status
// server also serves the files, all behind the token, and leaves "/"
// and the paths it does not take to the page.
func TestOneServerForStatusAndFiles(t *testing.T) {
	s := newSession(t, t.TempDir(), false)
	mi := tinyTorrent()
	if _, err := s.Add(t.Context(), "hello", mi); err != nil {
		t.Fatal(err)
	}
	page := func(*Session) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page at "+r.URL.Path) })
	}
	hs, err := serveHTTP(s, Target{HTTPAddr: "127.0.0.1:0", HTTPToken: "tok", Page: page})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()
	if !strings.HasSuffix(hs.statusURL, "/status.json?token=tok") || !strings.HasPrefix(hs.statusURL, hs.filesURL+"/") {
		t.Fatalf("status URL %q, files at %q", hs.statusURL, hs.filesURL)
	}
	code, body := get(t, hs.statusURL)
	var st Status
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil || len(st.Torrents) != 1 || st.Torrents[0].Name != "hello" {
		t.Fatalf("status: %d %v\n%s", code, err, body)
	}
	file := hs.filesURL + "/t/" + mi.InfoHash.String() + "/hello.txt"
	for _, u := range []string{file, hs.filesURL + "/status.json", hs.filesURL + "/", hs.filesURL + "/metrics"} {
		if code, _ := get(t, u); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", u, code)
		}
	}
	// Nobody seeds the torrent: a HEAD needs no piece.
	req, _ := http.NewRequest(http.MethodHead, file, nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != 12 || resp.Header.Get("ETag") == "" {
		t.Errorf("HEAD %s: %d, %d bytes, %v", file, resp.StatusCode, resp.ContentLength, resp.Header)
	}
	if code, body := get(t, hs.filesURL+"/metrics?token=tok"); code != http.StatusOK || body != "page at /metrics" {
		t.Errorf("/metrics: %d %q", code, body)
	}
	if code, body := get(t, hs.filesURL+"/dav/", "Authorization", "Bearer tok"); code != http.StatusMethodNotAllowed && !strings.Contains(body, "hello") {
		t.Errorf("/dav/: %d %q", code, body)
	}
	s.mu.Lock()
	readers := s.torrents["hello"].tor.Readers()
	s.mu.Unlock()
	if readers != 0 {
		t.Errorf("%d readers open after the requests", readers)
	}

	if _, err := serveHTTP(s, Target{HTTPAddr: "0.0.0.0:0"}); err == nil || !strings.Contains(err.Error(), "needs a token") {
		t.Errorf("serving beyond loopback without a token: %v", err)
	}
}

// TestStatusServerWithoutFiles: a mount without an HTTP address serves
// the status JSON at its URL and at "/", as before, and no files.
func TestStatusServerWithoutFiles(t *testing.T) {
	s := newSession(t, t.TempDir(), false)
	mi := tinyTorrent()
	if _, err := s.Add(t.Context(), "hello", mi); err != nil {
		t.Fatal(err)
	}
	hs, err := serveHTTP(s, Target{})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()
	if hs.filesURL != "" {
		t.Errorf("files served at %q", hs.filesURL)
	}
	base := strings.TrimSuffix(hs.statusURL, "/status.json")
	for _, u := range []string{hs.statusURL, base + "/"} {
		if code, body := get(t, u); code != http.StatusOK || !strings.Contains(body, `"info_hash"`) {
			t.Errorf("GET %s: %d %s", u, code, body)
		}
	}
	if code, _ := get(t, base+"/t/"+mi.InfoHash.String()+"/hello.txt"); code == http.StatusOK {
		t.Error("a file served without an HTTP address")
	}
}

// TestServerWithoutTokenChecksHost: the token-less server on loopback
// answers its own address and refuses a request naming another host,
// as a page reaching it through DNS rebinding would.
func TestServerWithoutTokenChecksHost(t *testing.T) {
	s := newSession(t, t.TempDir(), false)
	if _, err := s.Add(t.Context(), "hello", tinyTorrent()); err != nil {
		t.Fatal(err)
	}
	hs, err := serveHTTP(s, Target{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.stop()
	if code, body := get(t, hs.statusURL); code != http.StatusOK || !strings.Contains(body, "hello") {
		t.Fatalf("status at %s: %d\n%s", hs.statusURL, code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, hs.statusURL, nil)
	req.Host = "rebound.example:80"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || strings.Contains(string(b), "hello") {
		t.Errorf("status under Host rebound.example: %d\n%s", resp.StatusCode, b)
	}
}
