package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// MountConfig says what to mount where.
type MountConfig struct {
	// Source is a .torrent file, shown at the mountpoint, or a directory
	// of them, shown one directory each and watched for .torrent files
	// added and removed.
	Source     string
	Mountpoint string
	// AllowOther lets other users read the mount.
	AllowOther bool
	// StatusAddr is the loopback address of the status page; "" picks a
	// free port on 127.0.0.1.
	StatusAddr string
	// Debug logs every FUSE request.
	Debug bool
}

// Mounted describes a live mount, for the line the command prints.
type Mounted struct {
	Mountpoint string
	// Torrents are the names shown (one for a single torrent).
	Torrents  []string
	StatusURL string
	// Listen is where peers connect.
	Listen string
	// CacheDir holds the caches; CacheBudget is the sum of the torrents'
	// budgets in bytes (0 when unlimited).
	CacheDir    string
	CacheBudget int64
}

// Serve mounts mc.Source on mc.Mountpoint and serves it until ctx ends
// or someone unmounts it. ready is called once the mount is live. On the
// way out it unmounts (lazily when files are open, then waits until they
// are closed or force is closed), announces "stopped" and saves the
// caches.
func Serve(ctx context.Context, cfg Config, mc MountConfig, ready func(Mounted), force <-chan struct{}) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(mc.Source)
	if err != nil {
		return err
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

	statusURL, stopStatus, err := serveStatus(s, mc.StatusAddr)
	if err != nil {
		return err
	}
	defer stopStatus()

	var root fusefs.InodeEmbedder
	var watch func(context.Context)
	var names []string
	source := "torfs"
	if fi.IsDir() {
		r := fs.NewRoot(fs.RootOptions{StatusURL: statusURL})
		w := &watcher{dir: mc.Source, s: s, root: r, log: log, known: map[string]fileStamp{}}
		w.scan(ctx)
		root, watch, names = r, w.run, r.Names()
	} else {
		mi, err := metainfo.Load(mc.Source)
		if err != nil {
			return err
		}
		t, err := s.Add(ctx, mi.Info.Name, mi)
		if err != nil {
			return err
		}
		root = fs.NewTorrentDir(t.FS(), fs.Options{Logger: log, StatusURL: statusURL})
		names, source = []string{mi.Info.Name}, mi.Info.Name
	}
	srv, err := fs.Mount(mc.Mountpoint, root, fs.MountOptions{
		AllowOther: mc.AllowOther, Source: source, Logger: log, Debug: mc.Debug,
	})
	if err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		if watch != nil {
			watch(wctx)
		}
	}()
	if ready != nil {
		m := Mounted{Mountpoint: srv.Dir(), Torrents: names, StatusURL: statusURL, Listen: s.Addr().String(), CacheDir: cfg.CacheDir}
		for _, t := range s.Status().Torrents {
			m.CacheBudget += t.CacheBudget
		}
		ready(m)
	}
	select {
	case <-ctx.Done():
	case <-srv.Done():
		log.Info("unmounted from outside", "dir", srv.Dir())
	}
	stopWatch()
	<-watchDone
	uctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-force:
			cancel()
		case <-uctx.Done():
		}
	}()
	if err := srv.Unmount(uctx); err != nil {
		return err
	}
	return nil
}

// serveStatus serves the status page on a loopback address.
func serveStatus(s *Session, addr string) (url string, stop func(), err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("status page: %w", err)
	}
	hs := &http.Server{Handler: s.StatusHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("status page stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/", func() { _ = hs.Close() }, nil
}

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
