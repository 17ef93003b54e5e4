package mount

import (
	"context"
	"log/slog"
	"time"
)

// Stream serves tg.Source over HTTP only, for a machine without FUSE:
// the same engine, caches, magnet resolution and watched directory as
// Serve, and the HTTP server of tg.HTTPAddr (which must be set), until
// ctx ends; tg.Mountpoint and the mount's options are ignored. ready is
// called once the server is up. On the way out it stops the server,
// which ends every stream, then announces "stopped" (for at most a few
// seconds) and saves the caches.
func Stream(ctx context.Context, cfg Config, tg Target, ready func(Mounted)) error {
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
		if cerr := s.Close(cctx); cerr != nil {
			log.Warn("shutting down", "err", cerr)
		}
	}()
	if tg.HTTPAddr == "" {
		tg.HTTPAddr = "127.0.0.1:0"
	}
	hs, err := serveHTTP(s, tg)
	if err != nil {
		return err
	}
	defer hs.stop()
	// The view is what a mount would show; nothing mounts it, but it
	// adds the torrents to the session and runs the watcher or the
	// magnet link's resolution.
	v, err := s.view(ctx, tg.Source, hs.statusURL)
	if err != nil {
		return err
	}
	if ready != nil {
		m := Mounted{Torrents: v.names, Resolving: v.resolving, StatusURL: hs.statusURL, HTTPURL: hs.filesURL,
			Listen: s.Addr().String(), CacheDir: cfg.CacheDir}
		st := s.Status()
		m.CacheBudget, m.CacheShared = st.CacheBudget, st.CacheShared
		ready(m)
	}
	if v.watch != nil {
		v.watch(ctx)
	}
	<-ctx.Done()
	return nil
}
