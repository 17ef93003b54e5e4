package mount

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// fileStamp tells whether a .torrent or .magnet file changed since it
// was read.
type fileStamp struct {
	name  string // the directory shown
	size  int64
	mtime time.Time
	ok    bool // parsed and shown
}

// watcher keeps a Root in step with the .torrent and .magnet files of a
// directory. It owns the resolutions of the magnet links it shows: run
// starts them and stops them all before it returns.
type watcher struct {
	dir     string
	s       *Session
	root    *fs.Root
	log     *slog.Logger
	known   map[string]fileStamp      // by file name
	magnets map[string]*watchedMagnet // magnet links without saved metadata (and v2-only torrents lacking piece hashes), by name shown
}

// watchedMagnet is a magnet link of the directory shown before its
// metadata is known.
type watchedMagnet struct {
	r *resolution
	p *fs.Pending
	// Set by run when it starts the resolution.
	cancel context.CancelFunc
	done   chan struct{}
	added  bool // the torrent was added to the session; valid after done
}

// watchInterval is how often the directory is scanned; polling keeps it
// simple and works on every file system, network ones included.
const watchInterval = 2 * time.Second

// maxMagnetFile bounds what is read of a .magnet file: a magnet link is
// a line of text.
const maxMagnetFile = 64 << 10

func (w *watcher) run(ctx context.Context) {
	defer w.stopMagnets()
	w.startMagnets(ctx)
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.scan(ctx)
			w.startMagnets(ctx)
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
		kind := filepath.Ext(e.Name())
		if e.IsDir() || (kind != ".torrent" && kind != ".magnet") {
			continue
		}
		name := strings.TrimSuffix(e.Name(), kind)
		seen[e.Name()] = true
		info, err := e.Info()
		if err != nil {
			continue
		}
		stamp := fileStamp{name: name, size: info.Size(), mtime: info.ModTime()}
		if old, ok := w.known[e.Name()]; ok && old.size == stamp.size && old.mtime.Equal(stamp.mtime) {
			continue // unchanged (shown, or already reported as bad)
		}
		if old, ok := w.known[e.Name()]; ok && old.ok {
			w.remove(ctx, name)
		}
		path := filepath.Join(w.dir, e.Name())
		if kind == ".magnet" {
			stamp.ok = w.addMagnet(ctx, name, path)
		} else {
			stamp.ok = w.add(ctx, name, path)
		}
		w.known[e.Name()] = stamp
	}
	for file, st := range w.known {
		if !seen[file] {
			if st.ok {
				w.remove(ctx, st.name)
			}
			delete(w.known, file)
		}
	}
}

func (w *watcher) add(ctx context.Context, name, path string) bool {
	mi, err := metainfo.Load(path)
	if err != nil {
		w.log.Warn("skipping a torrent file that does not parse", "file", path, "err", err)
		return false
	}
	if other := w.shownAs(mi.Magnet()); other != "" {
		w.log.Warn(fmt.Sprintf("skipping %s: the same torrent is already shown as %s", filepath.Base(path), other), "infohash", mi.InfoHash)
		return false
	}
	// A v2-only torrent lacking piece hashes is shown as a magnet link
	// is until they arrive, unless an earlier mount saved them.
	full := w.s.withLayers(mi, w.log.With("file", path))
	if full == nil {
		return w.addPending(name, path, newLayersResolution(name, mi))
	}
	return w.show(ctx, name, path, full, fetch.TorrentOptions{})
}

// show starts mi as name and shows it.
func (w *watcher) show(ctx context.Context, name, path string, mi *metainfo.MetaInfo, extra fetch.TorrentOptions) bool {
	t, err := w.s.add(ctx, name, mi, extra)
	if err != nil {
		w.log.Warn("cannot serve torrent", "file", path, "err", err)
		return false
	}
	if err := w.root.Add(name, t.FS(), fs.Options{Logger: w.log, ModTime: mi.CreationDate, Space: t.space}); err != nil {
		w.log.Warn("cannot show torrent", "file", path, "err", err)
		_ = w.s.Remove(ctx, name)
		return false
	}
	w.log.Info("showing torrent", "name", name)
	return true
}

// addMagnet shows the magnet link in the file at path: from its saved
// .torrent when an earlier mount resolved it, else as a directory holding
// the placeholder until run has resolved it.
func (w *watcher) addMagnet(ctx context.Context, name, path string) bool {
	m, err := readMagnet(path)
	if err != nil {
		w.log.Warn("skipping a magnet file", "file", path, "err", err)
		return false
	}
	if other := w.shownAs(m); other != "" {
		// Resolving it again could only fail to show it, forever.
		w.log.Warn(fmt.Sprintf("skipping %s: the same torrent is already shown as %s", filepath.Base(path), other), "infohash", m.InfoHash)
		return false
	}
	mi, err := w.s.loadSaved(m)
	if err != nil {
		w.log.Warn("ignoring the saved metadata of a magnet link; resolving it again", "file", path, "err", err)
	}
	if mi != nil {
		w.log.Info("using the saved metadata of the magnet link, not resolving it", "file", path, "infohash", m.InfoHash)
		return w.show(ctx, name, path, mi, magnetExtras(mi, m, nil))
	}
	return w.addPending(name, path, newResolution(name, m))
}

// addPending shows r, from the file at path, as a directory holding the
// placeholder until run has resolved it.
func (w *watcher) addPending(name, path string, r *resolution) bool {
	p := fs.NewPending(fs.PendingOptions{InfoHash: r.magnet.InfoHash, Describe: r.describe})
	if err := w.root.AddPending(name, p); err != nil {
		w.log.Warn("cannot show the torrent while resolving it", "file", path, "err", err)
		return false
	}
	w.magnets[name] = &watchedMagnet{r: r, p: p}
	w.log.Info("showing a torrent while resolving it", "name", name, "file", path)
	return true
}

// readMagnet reads a file holding a magnet link.
func readMagnet(path string) (*metainfo.Magnet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMagnetFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMagnetFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a magnet link", path, maxMagnetFile)
	}
	return metainfo.ParseMagnet(strings.TrimSpace(string(b)))
}

// startMagnets starts resolving the magnet links not started yet.
func (w *watcher) startMagnets(ctx context.Context) {
	for name, wm := range w.magnets {
		if wm.done != nil {
			continue
		}
		mctx, cancel := context.WithCancel(ctx)
		wm.cancel, wm.done = cancel, make(chan struct{})
		go func() {
			defer close(wm.done)
			wm.added = w.s.resolveAndShow(mctx, wm.r, wm.p, name, fs.Options{Logger: w.log})
		}()
	}
}

// stopMagnet stops resolving name and reports whether its torrent was
// added to the session.
func (w *watcher) stopMagnet(name string) (added bool) {
	wm := w.magnets[name]
	delete(w.magnets, name)
	if wm.done != nil {
		wm.cancel()
		<-wm.done
	}
	w.s.untrack(wm.r)
	return wm.added
}

func (w *watcher) stopMagnets() {
	for name := range w.magnets {
		w.stopMagnet(name)
	}
}

func (w *watcher) remove(ctx context.Context, name string) {
	inSession := true
	if _, ok := w.magnets[name]; ok {
		inSession = w.stopMagnet(name)
	}
	if err := w.root.Remove(name); err != nil {
		w.log.Warn("hiding torrent", "name", name, "err", err)
	}
	if inSession {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := w.s.Remove(cctx, name); err != nil {
			w.log.Warn("stopping torrent", "name", name, "err", err)
		}
	}
	w.log.Info("torrent removed", "name", name)
}

// shownAs returns the name under which the torrent m names is already
// shown, resolved or still resolving, or "".
func (w *watcher) shownAs(m *metainfo.Magnet) string {
	for name, wm := range w.magnets {
		if sameTorrent(wm.r.magnet, m) {
			return name
		}
	}
	return w.s.shownAs(m)
}
