package dht

import (
	"context"
	"log/slog"
	"sync"
)

// resolveLog says once that a bootstrap node cannot be resolved (or is
// malformed), and again only when that changes: offline, every lookup of
// every torrent resolves the routers again, every 30 s.
type resolveLog struct {
	mu      sync.Mutex
	failing map[string]bool // by "host:port" as configured
}

// failed logs why hp cannot be used: a warning the first time, debug
// lines while it stays so.
func (r *resolveLog) failed(log *slog.Logger, msg, hp string, err error) {
	r.mu.Lock()
	first := !r.failing[hp]
	if first {
		if r.failing == nil {
			r.failing = map[string]bool{}
		}
		r.failing[hp] = true
	}
	r.mu.Unlock()
	level := slog.LevelDebug
	if first {
		level = slog.LevelWarn
		msg += "; retrying, said again only when that changes"
	}
	log.Log(context.Background(), level, msg, "node", hp, "err", err)
}

// resolved logs that hp resolves again, when it was said not to.
func (r *resolveLog) resolved(log *slog.Logger, hp string) {
	r.mu.Lock()
	was := r.failing[hp]
	delete(r.failing, hp)
	r.mu.Unlock()
	if was {
		log.Warn("DHT bootstrap node resolves again", "node", hp)
	}
}
