package httpserve

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/torfs/torfs/metainfo"
	"golang.org/x/net/webdav"
)

// Library is what a Handler serves: the torrents open now. It is asked
// on every request, so torrents may come and go.
type Library interface {
	Torrents() []Torrent
}

// Torrent is one torrent a Handler serves.
type Torrent interface {
	// Name is the torrent's directory in the WebDAV tree (the name a
	// mount shows); unique within a Library.
	Name() string
	InfoHash() metainfo.Hash
	Info() *metainfo.Info
	// ModTime is the files' modification time (Last-Modified).
	ModTime() time.Time
	// OpenFile opens a stream of file i, an index into Info().Files,
	// whose reads end when ctx does; Close withdraws its demands.
	OpenFile(ctx context.Context, i int) (File, error)
}

// File is one stream over a torrent's file, at the file's offsets
// (fetch.FileReader).
type File interface {
	io.ReadSeekCloser
	io.ReaderAt
}

// Handler serves the torrents of Library under /t/ and /dav/ (see the
// package documentation); any other path is 404, left to the caller's
// mux. Its zero value with a Library set is ready to use; it must not
// be copied after first use.
type Handler struct {
	Library Library
	// Logger receives a line for each stream that failed for a reason
	// other than its client going away; nil discards.
	Logger *slog.Logger

	mu    sync.Mutex
	trees map[metainfo.Hash]*tree // built once per torrent seen

	davOnce sync.Once
	dav     *webdav.Handler // made on the first WebDAV request
}

// ServeHTTP routes /t/ to the files and playlists, /dav/ to WebDAV.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/t/"):
		h.serveT(w, r, strings.TrimPrefix(r.URL.Path, "/t/"))
	case r.URL.Path == "/dav" || strings.HasPrefix(r.URL.Path, "/dav/"):
		h.serveDAV(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// serveT serves rest, the path after /t/: INFOHASH.m3u or INFOHASH/PATH.
func (h *Handler) serveT(w http.ResponseWriter, r *http.Request, rest string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	if hs, ok := strings.CutSuffix(rest, ".m3u"); ok && !strings.Contains(hs, "/") {
		t, tr := h.find(hs)
		if t == nil {
			http.NotFound(w, r)
			return
		}
		h.servePlaylist(w, r, t, tr)
		return
	}
	hs, p, ok := strings.Cut(rest, "/")
	if !ok || !validPath(p) {
		http.NotFound(w, r)
		return
	}
	t, tr := h.find(hs)
	if t == nil {
		http.NotFound(w, r)
		return
	}
	i, ok := tr.files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.serveFile(w, r, t, tr, i)
}

// find returns the torrent whose info-hash is hs in lowercase hex, and
// its tree; nil when there is none.
func (h *Handler) find(hs string) (Torrent, *tree) {
	if len(hs) != 2*len(metainfo.Hash{}) || strings.ToLower(hs) != hs {
		return nil, nil
	}
	var want metainfo.Hash
	if _, err := hex.Decode(want[:], []byte(hs)); err != nil {
		return nil, nil
	}
	for _, t := range h.Library.Torrents() {
		if t.InfoHash() == want {
			return t, h.tree(t)
		}
	}
	return nil, nil
}

// validPath reports whether p is a relative slash-separated path with
// no empty, "." or ".." component: anything else names no file of a
// torrent (metainfo.File.Path has none), and is refused before lookup.
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "\\\x00") {
			return false
		}
	}
	return true
}
