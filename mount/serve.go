package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/torfs/torfs/fs"
)

// Target says what Serve shows where, and how the mount behaves.
type Target struct {
	// Source is a .torrent file or a magnet link, shown at the
	// mountpoint, or a directory of .torrent files (and .magnet files
	// holding a magnet link), shown one directory each and watched for
	// files added and removed. A magnet link whose
	// metadata was saved by an earlier mount (in CacheDir/torrents) is
	// shown at once; otherwise the mount shows fs.ResolvingName until the
	// metadata arrives, then the files.
	Source     string
	Mountpoint string
	// AllowOther lets other users read the mount.
	AllowOther bool
	// StatusAddr is the loopback address of the status page; "" picks a
	// free port on 127.0.0.1.
	StatusAddr string
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
	// Resolving says the mount shows a magnet link whose metadata is
	// still being fetched: fs.ResolvingName until it arrives.
	Resolving bool
	StatusURL string
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

	statusURL, stopStatus, err := serveStatus(s, tg.StatusAddr)
	if err != nil {
		return err
	}
	defer stopStatus()

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
			Listen: s.Addr().String(), CacheDir: cfg.CacheDir}
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
