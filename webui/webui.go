// Package webui is the live web page of a running torfs: each torrent and
// file with a map of its pieces, the rates, the peers, the cache against
// its budget and the magnet links being resolved, with a stream URL to
// copy for each file. It serves the page (HTML, CSS and a little
// JavaScript, embedded, no build step), the state as JSON and as a
// stream of server-sent events, and Prometheus metrics. It reads
// everything from a Source, which a mount.Session is; it shows no
// secret, since it has none.
package webui

import (
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/torfs/torfs/mount"
)

// Source is what the page shows: *mount.Session is one.
type Source interface {
	Status() mount.Status
}

// SourceFunc adapts a function to Source.
type SourceFunc func() mount.Status

// Status calls f.
func (f SourceFunc) Status() mount.Status { return f() }

var _ Source = (*mount.Session)(nil)

// Options configures the handler New returns. The zero value works.
type Options struct {
	// Interval is how often /api/events sends the state; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Logger receives the handler's errors (a client gone mid-answer is
	// not one); nil discards.
	Logger *slog.Logger
}

// DefaultInterval is Options.Interval's default.
const DefaultInterval = time.Second

//go:embed page
var pageFiles embed.FS

// New returns the handler of the page and its endpoints:
//
//	GET /             the page
//	GET /assets/...   its script and style sheet
//	GET /api/state    the state, as JSON (mount.Status, as torfs status --json)
//	GET /api/events   the state as server-sent events, one every Interval
//	GET /metrics      Prometheus metrics, in the text format
//
// Any other path is 404, so the handler can sit at "/" of a server that
// routes other paths elsewhere. The page's requests are relative, and
// carry the page's query string along (a token there reaches the API
// without the page ever showing it).
func New(src Source, opts Options) http.Handler {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	assets, err := fs.Sub(pageFiles, "page")
	if err != nil {
		panic(err) // the embedded directory is part of the build
	}
	h := &handler{src: src, interval: opts.Interval, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		w.Header().Set("Cache-Control", "no-cache")
		if r.URL.Path == "" || r.URL.Path == "index.html" {
			http.NotFound(w, r)
			return
		}
		http.FileServerFS(assets).ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /api/state", h.state)
	mux.HandleFunc("GET /api/events", h.events)
	mux.Handle("GET /metrics", newMetrics(src))
	return mux
}

type handler struct {
	src      Source
	interval time.Duration
	log      *slog.Logger
}

// secure keeps the page to its own scripts and its URLs out of other
// sites' logs.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (h *handler) state(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(h.src.Status()); err != nil && r.Context().Err() == nil {
		h.log.Debug("web page: writing the state", "err", err)
	}
}
