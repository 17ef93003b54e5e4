package httpserve

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
)

// propfind lists what a PROPFIND of target with depth returns: each
// href with its content length ("dir" for a collection).
func propfind(t *testing.T, h http.Handler, target, depth string) map[string]string {
	t.Helper()
	w := do(t, h, "PROPFIND", target, "Depth", depth)
	if w.Code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s: %d %s", target, w.Code, w.Body)
	}
	var ms struct {
		Responses []struct {
			Href string `xml:"href"`
			Prop struct {
				Length     string    `xml:"getcontentlength"`
				Type       string    `xml:"getcontenttype"`
				ETag       string    `xml:"getetag"`
				Collection *struct{} `xml:"resourcetype>collection"`
			} `xml:"propstat>prop"`
		} `xml:"response"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &ms); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range ms.Responses {
		v := r.Prop.Length + " " + r.Prop.Type
		if r.Prop.Collection != nil {
			v = "dir"
		} else if r.Prop.ETag == "" {
			v += " no etag"
		}
		out[r.Href] = v
	}
	return out
}

func TestWebDAV(t *testing.T) {
	lib, multi, single := sample()
	h := &Handler{Library: lib}
	got := propfind(t, h, "/dav/", "1")
	want := map[string]string{"/dav/": "dir", "/dav/Film%20Pack/": "dir", "/dav/song.flac/": "dir"}
	if !mapsEqual(got, want) {
		t.Errorf("PROPFIND /dav/ = %v, want %v", got, want)
	}
	got = propfind(t, h, "/dav/Film%20Pack/", "infinity")
	want = map[string]string{
		"/dav/Film%20Pack/":                       "dir",
		"/dav/Film%20Pack/film.mkv":               "300000 video/x-matroska",
		"/dav/Film%20Pack/cover.jpg":              "2000 image/jpeg",
		"/dav/Film%20Pack/extras/":                "dir",
		"/dav/Film%20Pack/extras/making%20of.mp4": "50000 video/mp4",
		"/dav/Film%20Pack/extras/notes.txt":       "1000 text/plain; charset=utf-8",
	}
	if !mapsEqual(got, want) {
		t.Errorf("PROPFIND /dav/Film Pack/ = %v, want %v", got, want)
	}
	// Listing opens no stream: webdav would read files to sniff types.
	if opened, _, _ := multi.counts(); opened != 0 {
		t.Errorf("listing opened %d streams", opened)
	}

	w := do(t, h, "GET", "/dav/Film%20Pack/extras/making%20of.mp4", "Range", "bytes=10-19")
	if w.Code != http.StatusPartialContent || !bytes.Equal(w.Body.Bytes(), multi.file("extras/making of.mp4")[10:20]) ||
		w.Header().Get("ETag") != etag(multi.InfoHash(), "extras/making of.mp4") || w.Header().Get("Content-Type") != "video/mp4" {
		t.Errorf("GET over WebDAV: %d %v", w.Code, w.Header())
	}
	w = do(t, h, "GET", "/dav/song.flac/song.flac")
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), single.file("song.flac")) {
		t.Errorf("GET of a single-file torrent over WebDAV: %d", w.Code)
	}
	if _, open, _ := multi.counts(); open != 0 {
		t.Errorf("%d streams left open", open)
	}

	for _, m := range []string{"PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK", "POST"} {
		w := do(t, h, m, "/dav/Film%20Pack/film.mkv", "Destination", "/dav/Film%20Pack/x.mkv")
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, w.Code)
		}
	}
	if got := propfind(t, h, "/dav/Film%20Pack/", "1"); len(got) != 4 {
		t.Errorf("after the refused writes: %v", got)
	}

	// The file system refuses writes on its own too.
	fs, ctx := davFS{h}, context.Background()
	for _, err := range []error{
		fs.Mkdir(ctx, "/Film Pack/new", 0o755),
		fs.RemoveAll(ctx, "/Film Pack/film.mkv"),
		fs.Rename(ctx, "/Film Pack/film.mkv", "/Film Pack/x"),
	} {
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("a write: %v, want os.ErrPermission", err)
		}
	}
	for _, flag := range []int{os.O_RDWR, os.O_WRONLY, os.O_RDONLY | os.O_CREATE, os.O_RDONLY | os.O_TRUNC} {
		if _, err := fs.OpenFile(ctx, "/Film Pack/film.mkv", flag, 0); !errors.Is(err, os.ErrPermission) {
			t.Errorf("OpenFile with flag %#x: %v, want os.ErrPermission", flag, err)
		}
	}
	f, err := fs.OpenFile(ctx, "/Film Pack/extras", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		fis, err := f.Readdir(1)
		if err != nil {
			break
		}
		names = append(names, fis[0].Name())
	}
	if !slices.Equal(names, []string{"making of.mp4", "notes.txt"}) || strings.Join(names, "") == "" {
		t.Errorf("Readdir(1) one at a time: %q", names)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
