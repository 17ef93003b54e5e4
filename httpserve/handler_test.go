package httpserve

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// sample is a library of a multi-file torrent and a single-file one.
func sample() (fakeLibrary, *fakeTorrent, *fakeTorrent) {
	multi := newFake("Film Pack",
		fakeFile{"film.mkv", 300000},
		fakeFile{"extras/making of.mp4", 50000},
		fakeFile{"extras/notes.txt", 1000},
		fakeFile{"cover.jpg", 2000})
	single := newFake("song.flac", fakeFile{"song.flac", 70000})
	return fakeLibrary{multi, single}, multi, single
}

func do(t *testing.T, h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestServeFile(t *testing.T) {
	lib, multi, single := sample()
	h := &Handler{Library: lib}
	film := "/t/" + multi.InfoHash().String() + "/film.mkv"
	want := multi.file("film.mkv")

	w := do(t, h, "GET", film)
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), want) {
		t.Fatalf("GET %s: %d, %d bytes", film, w.Code, w.Body.Len())
	}
	tag := w.Header().Get("ETag")
	if !strings.HasPrefix(tag, `"`) || len(tag) < 10 || w.Header().Get("Content-Type") != "video/x-matroska" || w.Header().Get("Accept-Ranges") != "bytes" {
		t.Fatalf("headers %v", w.Header())
	}
	if w.Header().Get("Last-Modified") == "" {
		t.Error("no Last-Modified")
	}

	w = do(t, h, "GET", film, "Range", "bytes=1000-1999")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), want[1000:2000]) ||
		w.Header().Get("Content-Range") != "bytes 1000-1999/300000" {
		t.Fatalf("a range: %d %v", w.Code, w.Header())
	}
	w = do(t, h, "GET", film, "Range", "bytes=-10")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), want[len(want)-10:]) {
		t.Fatalf("a suffix range: %d", w.Code)
	}

	// Several ranges come back as multipart/byteranges.
	w = do(t, h, "GET", film, "Range", "bytes=0-9,200000-200099")
	mt, params, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if w.Code != http.StatusPartialContent || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("two ranges: %d %q %v", w.Code, w.Header().Get("Content-Type"), err)
	}
	mr := multipart.NewReader(w.Body, params["boundary"])
	for _, r := range [][2]int{{0, 10}, {200000, 200100}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part)
		if !bytes.Equal(body, want[r[0]:r[1]]) || part.Header.Get("Content-Type") != "video/x-matroska" {
			t.Errorf("part %v: %d bytes, %v", r, len(body), part.Header)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}

	// If-Range: the same ETag gets the range, another the whole file.
	w = do(t, h, "GET", film, "Range", "bytes=5-9", "If-Range", tag)
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), want[5:10]) {
		t.Errorf("If-Range with the ETag: %d", w.Code)
	}
	w = do(t, h, "GET", film, "Range", "bytes=5-9", "If-Range", `"other"`)
	if w.Code != http.StatusOK || w.Body.Len() != len(want) {
		t.Errorf("If-Range with another ETag: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w = do(t, h, "GET", film, "If-None-Match", tag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d", w.Code)
	}
	if w = do(t, h, "GET", film, "Range", "bytes=400000-"); w.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("a range past the end: %d", w.Code)
	}

	// HEAD reads nothing, and every stream is closed.
	_, _, before := multi.counts()
	w = do(t, h, "HEAD", film)
	if _, open, after := multi.counts(); w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "300000" || after != before || open != 0 {
		t.Errorf("HEAD: %d, %d bytes, %v; read %d bytes, %d streams open", w.Code, w.Body.Len(), w.Header(), after-before, open)
	}

	// The ETag differs per file; a single-file torrent's file is its name.
	w = do(t, h, "GET", "/t/"+multi.InfoHash().String()+"/extras/making%20of.mp4")
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), multi.file("extras/making of.mp4")) || w.Header().Get("ETag") == tag ||
		w.Header().Get("Content-Type") != "video/mp4" {
		t.Errorf("a file in a directory: %d %v", w.Code, w.Header())
	}
	w = do(t, h, "GET", "/t/"+single.InfoHash().String()+"/song.flac")
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), single.file("song.flac")) {
		t.Errorf("a single-file torrent: %d", w.Code)
	}
	if w = do(t, h, "POST", film); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

func TestNotFound(t *testing.T) {
	lib, multi, _ := sample()
	h := &Handler{Library: lib}
	hs := multi.InfoHash().String()
	for _, p := range []string{
		"/t/" + strings.Repeat("ab", 20) + "/film.mkv", // no such torrent
		"/t/" + strings.ToUpper(hs) + "/film.mkv",      // info-hashes are lowercase
		"/t/" + hs[:39] + "x/film.mkv",
		"/t/" + hs,
		"/t/" + hs + "/",
		"/t/" + hs + "/nothing.mkv",
		"/t/" + hs + "/extras",                   // a directory
		"/t/" + hs + "/Film Pack/film.mkv",       // the torrent's name is not part of the path
		"/t/" + hs + "/../" + hs + "/film.mkv",   // traversal
		"/t/" + hs + "/extras/../film.mkv",       //
		"/t/" + hs + "/%2e%2e/%2e%2e/etc/passwd", //
		"/t/" + hs + "/./film.mkv",
		"/t/" + hs + "//film.mkv",
		"/t/" + hs + "/extras\\notes.txt",
		"/t/" + hs + "/film.mkv%00",
		"/t/nothing.m3u",
		"/etc/passwd",
		"/dav/Film Pack/../../etc/passwd",
		"/dav/nothing/film.mkv",
	} {
		if w := do(t, h, "GET", strings.ReplaceAll(p, " ", "%20")); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, w.Code)
		}
	}
	if opened, _, _ := multi.counts(); opened != 0 {
		t.Errorf("%d streams opened for paths that name no file", opened)
	}
}

func TestPlaylist(t *testing.T) {
	lib, multi, single := sample()
	h := &Handler{Library: lib}
	w := do(t, h, "GET", "http://example.test:8080/t/"+multi.InfoHash().String()+".m3u")
	hs := multi.InfoHash().String()
	want := "#EXTM3U\n" +
		"#EXTINF:-1,film.mkv\nhttp://example.test:8080/t/" + hs + "/film.mkv\n" +
		"#EXTINF:-1,making of.mp4\nhttp://example.test:8080/t/" + hs + "/extras/making%20of.mp4\n"
	if w.Code != http.StatusOK || w.Body.String() != want || !strings.HasPrefix(w.Header().Get("Content-Type"), "audio/x-mpegurl") {
		t.Errorf("playlist: %d %q\n%s\nwant\n%s", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}
	w = do(t, h, "GET", "http://[::1]:9/t/"+single.InfoHash().String()+".m3u")
	if !strings.Contains(w.Body.String(), "\nhttp://[::1]:9/t/"+single.InfoHash().String()+"/song.flac\n") {
		t.Errorf("single-file playlist:\n%s", w.Body)
	}
}

func TestToken(t *testing.T) {
	lib, multi, _ := sample()
	h := RequireToken("s3cret", &Handler{Library: lib})
	film := "/t/" + multi.InfoHash().String() + "/film.mkv"
	for _, c := range []struct {
		target string
		hdr    []string
		code   int
	}{
		{film, nil, http.StatusUnauthorized},
		{film + "?token=wrong", nil, http.StatusUnauthorized},
		{film + "?token=s3cre", nil, http.StatusUnauthorized},
		{film, []string{"Authorization", "Bearer s3cretx"}, http.StatusUnauthorized},
		{film, []string{"Authorization", "s3cret"}, http.StatusUnauthorized},
		{"/dav/", nil, http.StatusUnauthorized},
		{"/t/nothing", nil, http.StatusUnauthorized}, // nothing said about what exists
		{film + "?token=s3cret", nil, http.StatusOK},
		{film, []string{"Authorization", "Bearer s3cret"}, http.StatusOK},
	} {
		w := do(t, h, "GET", c.target, c.hdr...)
		if w.Code != c.code {
			t.Errorf("GET %s %v: %d, want %d", c.target, c.hdr, w.Code, c.code)
		}
		if c.code == http.StatusUnauthorized && (bytes.Contains(w.Body.Bytes(), multi.file("film.mkv")[:64]) || w.Header().Get("WWW-Authenticate") == "") {
			t.Errorf("GET %s %v: a 401 with the content or without WWW-Authenticate", c.target, c.hdr)
		}
	}
	req := httptest.NewRequest("GET", film, nil)
	req.SetBasicAuth("anyone", "s3cret")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("Basic with the token as password: %d", w.Code)
	}
	// A playlist fetched with the token hands it on to the player.
	w = do(t, h, "GET", "http://h:1/t/"+multi.InfoHash().String()+".m3u", "Authorization", "Bearer s3cret")
	if !strings.Contains(w.Body.String(), "/film.mkv?token=s3cret\n") {
		t.Errorf("playlist under a token:\n%s", w.Body)
	}
	open := &Handler{Library: lib}
	if RequireToken("", open) != http.Handler(open) {
		t.Error("an empty token guards")
	}
}

func TestIndex(t *testing.T) {
	lib, multi, _ := sample()
	h := &Handler{Library: lib}
	w := do(t, h.Index(), "GET", "http://h:1/")
	for _, s := range []string{"Film Pack", "http://h:1/t/" + multi.InfoHash().String() + "/extras/making%20of.mp4", ".m3u", "http://h:1/dav/"} {
		if !strings.Contains(w.Body.String(), s) {
			t.Errorf("the index does not show %q:\n%s", s, w.Body)
		}
	}
	if w := do(t, h.Index(), "GET", "/other"); w.Code != http.StatusNotFound {
		t.Errorf("index at /other: %d", w.Code)
	}
}

// TestLoopbackHostsOnly: a server without a token answers requests
// naming this machine and refuses others, so a page reaching it through
// DNS rebinding (its own name pointed at 127.0.0.1) gets 403.
func TestLoopbackHostsOnly(t *testing.T) {
	lib, multi, _ := sample()
	h := LoopbackHostsOnly(&Handler{Library: lib})
	film := "/t/" + multi.InfoHash().String() + "/film.mkv"
	for host, code := range map[string]int{
		"127.0.0.1:8080":       http.StatusOK,
		"127.0.0.2":            http.StatusOK,
		"[::1]:8080":           http.StatusOK,
		"localhost:8080":       http.StatusOK,
		"LocalHost.":           http.StatusOK,
		"player.localhost:1":   http.StatusOK,
		"evil.example:8080":    http.StatusForbidden,
		"localhost.evil.com":   http.StatusForbidden,
		"127.0.0.1.evil.com:1": http.StatusForbidden,
		"10.0.0.1:8080":        http.StatusForbidden,
		"[::ffff:10.0.0.1]:80": http.StatusForbidden,
		"":                     http.StatusForbidden,
	} {
		req := httptest.NewRequest("GET", film, nil)
		req.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != code {
			t.Errorf("Host %q: %d, want %d", host, w.Code, code)
		}
		if code == http.StatusForbidden && (bytes.Contains(w.Body.Bytes(), multi.file("film.mkv")[:64]) || !strings.Contains(w.Body.String(), "--http-token")) {
			t.Errorf("Host %q: the 403 shows content or does not say what to do:\n%s", host, w.Body)
		}
	}
}
