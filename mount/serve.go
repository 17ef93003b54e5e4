package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/httpserve"
)

// Target says what Serve shows where, and how the mount behaves.
type Target struct {
	// Source is a .torrent file or a magnet link, shown at the
	// mountpoint, or a directory of .torrent files (and .magnet files
	// holding a magnet link), shown one directory each and watched for
	// files added and removed. A magnet link whose
	// metadata was saved by an earlier mount (in CacheDir/torrents) is
	// shown at once; otherwise the mount shows fs.ResolvingName until the
	// metadata arrives, then the files. So is a v2-only .torrent whose
	// piece layers leave files out, until its peers sent the hashes
	// missing (saved in CacheDir/torrents too).
	Source     string
	Mountpoint string
	// AllowOther lets other users read the mount.
	AllowOther bool
	// StatusAddr is the loopback address of the status page; "" picks a
	// free port on 127.0.0.1. HTTPAddr, when set, takes its place.
	StatusAddr string
	// HTTPAddr, when set, is where the status server listens, and it
	// then serves the torrents' files too (package httpserve: /t/,
	// /dav/). An address beyond loopback needs HTTPToken.
	HTTPAddr string
	// HTTPToken, when set, must come with every request to the server
	// (httpserve.RequireToken); the status URL carries it.
	HTTPToken string
	// Page, when set, makes the handler that serves "/" and every path
	// the server does not take itself (a web page, /metrics). Without
	// it "/" is httpserve's plain index of the files when they are
	// served, else the status JSON.
	Page func(*Session) http.Handler
	// Debug logs every FUSE request.
	Debug bool
	// Grace is how long Serve keeps serving, once asked to stop, a mount
	// it could only detach (files still open in it, or a copy of it in
	// another mount namespace); default DefaultGrace.
	Grace time.Duration
	// StopNow says, in the log lines of that grace period, how the user
	// stops serving at once; default "Ctrl-C again" (a daemon has no
	// terminal: "run 'torfs umount DIR' again").
	StopNow string
}

// DefaultGrace is Target.Grace's default: long enough for a program
// to finish what it was reading, short enough that stopping never hangs.
const DefaultGrace = 3 * time.Second

// Mounted describes a live mount, for the line the command prints.
type Mounted struct {
	Mountpoint string
	// Torrents are the names shown (one for a single torrent).
	Torrents []string
	// Resolving says the mount shows a magnet link whose metadata (or a
	// v2-only torrent whose piece hashes) is still being fetched:
	// fs.ResolvingName until it arrives.
	Resolving bool
	StatusURL string
	// HTTPURL is the base URL of the files over HTTP ("" when not
	// served): HTTPURL/t/INFOHASH/PATH, HTTPURL/dav/.
	HTTPURL string
	// Listen is where peers connect.
	Listen string
	// CacheDir holds the caches; CacheBudget is the budget in bytes
	// the torrents share, or the sum of theirs (0 when unlimited).
	// CacheShared says it is shared (a directory with a cache size).
	CacheDir    string
	CacheBudget int64
	CacheShared bool
}

// Serve mounts tg.Source on tg.Mountpoint and serves it until ctx ends
// or someone unmounts it. ready is called once the mount is live. On the
// way out it takes the mount off the mountpoint at once (lazily when
// files are open in it) and keeps serving the open files for up to
// tg.Grace, or until force is closed; then it announces "stopped" (until
// force is closed, for at most a few seconds) and saves the caches. It
// logs what it does, so a user who pressed Ctrl-C knows why it waits.
func Serve(ctx context.Context, cfg Config, tg Target, ready func(Mounted), force <-chan struct{}) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			select {
			case <-force:
				cancel()
			case <-cctx.Done():
			}
		}()
		if cerr := s.Close(cctx); cerr != nil {
			log.Warn("shutting down", "err", cerr)
		}
	}()

	hs, err := serveHTTP(s, tg)
	if err != nil {
		return err
	}
	defer hs.stop()
	statusURL := hs.statusURL

	v, err := s.view(ctx, tg.Source, statusURL)
	if err != nil {
		return err
	}
	srv, err := fs.Mount(tg.Mountpoint, v.root, fs.MountOptions{
		AllowOther: tg.AllowOther, Source: v.source, Logger: log, Debug: tg.Debug,
	})
	if err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if v.watch != nil {
			v.watch(wctx)
		}
	}()
	if ready != nil {
		m := Mounted{Mountpoint: srv.Dir(), Torrents: v.names, Resolving: v.resolving, StatusURL: statusURL,
			HTTPURL: hs.filesURL, Listen: s.Addr().String(), CacheDir: cfg.CacheDir}
		st := s.Status()
		m.CacheBudget, m.CacheShared = st.CacheBudget, st.CacheShared // the pool's, also when no torrent is shown yet
		ready(m)
	}
	select {
	case <-ctx.Done():
	case <-srv.Done():
		log.Info("unmounted from outside", "dir", srv.Dir())
	}
	stopWatch()
	<-watchDone
	return unmount(srv, tg.Grace, tg.StopNow, force, log)
}

// unmount takes srv off its mountpoint and waits, for at most grace or
// until force is closed, for the kernel to let go of it. stopNow is
// Target.StopNow.
func unmount(srv *fs.Server, grace time.Duration, stopNow string, force <-chan struct{}, log *slog.Logger) error {
	lazy, err := srv.Detach()
	if err != nil {
		return err
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	if stopNow == "" {
		stopNow = "Ctrl-C again"
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	// A lazy detach is news at once. An outright unmount ends the
	// kernel's connection there and then, and the server sees it within
	// moments: only a copy of the mount elsewhere keeps it going, which
	// is worth a word if it lasts.
	var quiet time.Duration
	if !lazy {
		quiet = quietUnmount
	}
	tell := time.NewTimer(quiet)
	defer tell.Stop()
	for {
		select {
		case <-srv.Done():
			return nil
		case <-tell.C:
			if lazy {
				log.Warn("detached the mount lazily: files are still open in it; serving them a little longer, "+stopNow+" to stop now", "dir", srv.Dir(), "for", grace)
			} else {
				log.Warn("unmounted, but the file system is still in use (mounted in another mount namespace?); serving it a little longer, "+stopNow+" to stop now", "dir", srv.Dir(), "for", grace)
			}
		case <-force:
			log.Warn("stopping now: programs still using the mount get 'Transport endpoint is not connected'", "dir", srv.Dir())
			return nil
		case <-deadline.C:
			log.Warn("stopping: the grace period is over; programs still using the mount get 'Transport endpoint is not connected'", "dir", srv.Dir(), "after", grace)
			return nil
		}
	}
}

// quietUnmount is how long an outright unmount may take to end the
// server before Serve says why it is still waiting.
const quietUnmount = 500 * time.Millisecond

// httpServer is the one HTTP server of a Session: the status JSON, and
// with Target.HTTPAddr the files.
type httpServer struct {
	statusURL string // the status JSON, with the token when there is one
	filesURL  string // base URL of the files; "" when not served
	stop      func()
}

// serveHTTP starts the server tg asks for on its own goroutine: the
// status JSON at /status.json, with tg.HTTPAddr the files at /t/ and
// /dav/, and tg.Page (or a default) at "/".
func serveHTTP(s *Session, tg Target) (*httpServer, error) {
	addr, files := tg.StatusAddr, tg.HTTPAddr != ""
	if files {
		addr = tg.HTTPAddr
		if !httpserve.Loopback(addr) && tg.HTTPToken == "" {
			return nil, fmt.Errorf("serving files on %s, beyond loopback, needs a token: without one anyone who can reach it reads the torrents", addr)
		}
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if files {
			return nil, fmt.Errorf("serving files over HTTP: %w", err)
		}
		return nil, fmt.Errorf("status page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/status.json", s.StatusHandler())
	root := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		s.StatusHandler().ServeHTTP(w, r)
	}))
	if files {
		h := &httpserve.Handler{Library: library{s}, Logger: s.log}
		mux.Handle("/t/", h)
		mux.Handle("/dav/", h)
		mux.Handle("/dav", h)
		root = h.Index()
	}
	if tg.Page != nil {
		root = tg.Page(s)
	}
	mux.Handle("/", root)
	// No write timeout: a stream lasts as long as its player reads.
	// Without a token, the server listens on loopback only; the Host
	// guard keeps web pages out through DNS rebinding too.
	handler := httpserve.RequireToken(tg.HTTPToken, mux)
	if tg.HTTPToken == "" {
		handler = httpserve.LoopbackHostsOnly(mux)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("the HTTP server stopped", "err", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	hs := &httpServer{statusURL: base + "/status.json", stop: func() { _ = srv.Close() }}
	if tg.HTTPToken != "" {
		hs.statusURL += "?token=" + url.QueryEscape(tg.HTTPToken)
	}
	if files {
		hs.filesURL = base
	}
	return hs, nil
}
