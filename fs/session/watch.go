package session

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// fileStamp tells whether a .torrent file changed since it was read.
type fileStamp struct {
	size  int64
	mtime time.Time
	ok    bool // parsed and shown
}

// watcher keeps a Root in step with the .torrent files of a directory.
type watcher struct {
	dir   string
	s     *Session
	root  *fs.Root
	log   *slog.Logger
	known map[string]fileStamp // by torrent name
}

// watchInterval is how often the directory is scanned; polling keeps it
// simple and works on every file system, network ones included.
const watchInterval = 2 * time.Second

func (w *watcher) run(ctx context.Context) {
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.scan(ctx)
		}
	}
}

// scan adds torrents that appeared and removes those whose file is gone.
func (w *watcher) scan(ctx context.Context) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Warn("reading the torrent directory", "dir", w.dir, "err", err)
		return
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".torrent") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), ".torrent")
		seen[name] = true
		info, err := e.Info()
		if err != nil {
			continue
		}
		stamp := fileStamp{size: info.Size(), mtime: info.ModTime()}
		if old, ok := w.known[name]; ok && old.size == stamp.size && old.mtime.Equal(stamp.mtime) {
			continue // unchanged (shown, or already reported as bad)
		}
		if old, ok := w.known[name]; ok && old.ok {
			w.remove(ctx, name)
		}
		stamp.ok = w.add(ctx, name, filepath.Join(w.dir, e.Name()))
		w.known[name] = stamp
	}
	for name, st := range w.known {
		if !seen[name] {
			if st.ok {
				w.remove(ctx, name)
			}
			delete(w.known, name)
		}
	}
}

func (w *watcher) add(ctx context.Context, name, path string) bool {
	mi, err := metainfo.Load(path)
	if err != nil {
		w.log.Warn("skipping a torrent file that does not parse", "file", path, "err", err)
		return false
	}
	t, err := w.s.Add(ctx, name, mi)
	if err != nil {
		w.log.Warn("cannot serve torrent", "file", path, "err", err)
		return false
	}
	if err := w.root.Add(name, t.FS(), fs.Options{Logger: w.log}); err != nil {
		w.log.Warn("cannot show torrent", "file", path, "err", err)
		_ = w.s.Remove(ctx, name)
		return false
	}
	w.log.Info("showing torrent", "name", name)
	return true
}

func (w *watcher) remove(ctx context.Context, name string) {
	if err := w.root.Remove(name); err != nil {
		w.log.Warn("hiding torrent", "name", name, "err", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.s.Remove(cctx, name); err != nil {
		w.log.Warn("stopping torrent", "name", name, "err", err)
	}
	w.log.Info("torrent removed", "name", name)
}
