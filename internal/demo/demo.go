// Package demo runs torfs's offline demonstration: it generates sample
// content, makes its torrent, serves it from an in-process tracker and
// seeder on loopback, and mounts it with a separate leeching client, so
// a user with nothing but the torfs binary sees a torrent stream through
// a mount.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
	"github.com/torfs/torfs/tracker/server"
)

// Config configures a demo run.
type Config struct {
	// Mountpoint is where the demo torrent is mounted; "" makes one in
	// the demo's temporary directory.
	Mountpoint string
	// FilmSize is the size of the large file to stream (default 128 MiB).
	FilmSize int64
	// Check reads every file through the mount, compares it with the
	// source, reports and returns instead of waiting for ctx.
	Check bool
	// Out receives what the user reads: what to try, the check result.
	Out io.Writer
	// Logger receives component logs; nil discards.
	Logger *slog.Logger
}

// Run runs the demo until ctx ends (or, with Check, until the check is
// done), then unmounts and removes everything it made.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.FilmSize <= 0 {
		cfg.FilmSize = 128 << 20
	}
	work, err := os.MkdirTemp("", "torfs-demo-")
	if err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "seed", "torfs-demo")
	files, err := writeSamples(src, cfg.FilmSize)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	announce, trackerDone, err := startTracker(ctx, log)
	if err != nil {
		return err
	}
	defer func() { <-trackerDone }()
	defer cancel() // runs first: stops the tracker before waiting for it

	mi, err := metainfo.Create(ctx, src, metainfo.CreateOptions{Trackers: [][]string{{announce}}, Comment: "torfs demo"})
	if err != nil {
		return err
	}
	torrent := filepath.Join(work, "torfs-demo.torrent")
	if err := writeTorrent(mi, torrent); err != nil {
		return err
	}
	stopSeed, err := startSeeder(ctx, mi, filepath.Dir(src), log)
	if err != nil {
		return err
	}
	defer stopSeed()

	mnt := cfg.Mountpoint
	if mnt == "" {
		mnt = filepath.Join(work, "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			return err
		}
	}
	scfg := mount.Config{
		Fetch:    fetch.Config{ListenAddr: "127.0.0.1:0", Logger: log},
		CacheDir: filepath.Join(work, "cache"),
		Reader:   fetch.ReaderOptions{StallTimeout: time.Minute},
		Logger:   log,
	}
	mounted := make(chan mount.Mounted, 1)
	served := make(chan error, 1)
	sctx, stopMount := context.WithCancel(ctx)
	defer stopMount()
	go func() {
		served <- mount.Serve(sctx, scfg, mount.Target{Source: torrent, Mountpoint: mnt},
			func(m mount.Mounted) { mounted <- m }, ctx.Done())
	}()
	var m mount.Mounted
	select {
	case m = <-mounted:
	case err := <-served:
		return err
	}
	if !cfg.Check {
		printTry(cfg.Out, m, announce)
		err := <-served // until ctx ends
		if err == nil {
			fmt.Fprintf(cfg.Out, "\nunmounted %s; removing %s\n", m.Mountpoint, work)
		}
		return err
	}
	checkErr := check(ctx, cfg.Out, src, m.Mountpoint, files)
	stopMount()
	if err := <-served; err != nil {
		return errors.Join(checkErr, err)
	}
	return checkErr
}

// printTry tells the user what to do with the mount.
func printTry(w io.Writer, m mount.Mounted, announce string) {
	d := m.Mountpoint
	fmt.Fprintf(w, `torfs demo: a torrent made just now, seeded on loopback through a tracker
at %s, is mounted on

    %s

Nothing was downloaded yet: each read fetches what it needs. Try, in
another terminal:

    ls -lR %s
    cat %s/README.txt
    dd if=%s/film.bin bs=1M skip=100 count=8 status=progress | sha1sum
    getfattr -n user.torfs.progress %s/film.bin
    torfs status %s

Press Ctrl-C to unmount and clean everything up.
`, announce, d, d, d, d, d, d)
}

// check compares every file read through the mount with its source.
func check(ctx context.Context, w io.Writer, src, mnt string, files []string) error {
	var total int64
	start := time.Now()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := sameFile(filepath.Join(src, f), filepath.Join(mnt, f))
		if err != nil {
			fmt.Fprintf(w, "FAIL %s: %v\n", f, err)
			return fmt.Errorf("demo check: %s: %w", f, err)
		}
		total += n
		fmt.Fprintf(w, "ok   %s (%d bytes)\n", f, n)
	}
	d := time.Since(start)
	fmt.Fprintf(w, "demo check passed: %d files, %d bytes read through the mount in %v (%.0f MB/s), identical to the source\n",
		len(files), total, d.Round(time.Millisecond), float64(total)/d.Seconds()/1e6)
	return nil
}

// sameFile compares two files chunk by chunk.
func sameFile(want, got string) (int64, error) {
	a, err := os.Open(want)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	b, err := os.Open(got)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return off, fmt.Errorf("differs from the source near byte %d (%v, %v)", off, ea, eb)
		}
		off += int64(na)
		if ea != nil || eb != nil {
			if errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF) {
				return off, nil
			}
			return off, errors.Join(ea, eb)
		}
	}
}

// startTracker serves an in-memory tracker on loopback until ctx ends.
func startTracker(ctx context.Context, log *slog.Logger) (announce string, done <-chan struct{}, err error) {
	srv, err := server.New(server.Config{Interval: time.Minute, Logger: log})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("demo tracker: %w", err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer srv.Close()
		if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
			log.Warn("demo tracker stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String() + "/announce", ch, nil
}

// startSeeder seeds mi from dir (which holds the torrent's directory)
// with its own client.
func startSeeder(ctx context.Context, mi *metainfo.MetaInfo, dir string, log *slog.Logger) (stop func(), err error) {
	st, err := cache.Open(&mi.Info, cache.Options{Dir: dir, Budget: cache.Keep, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := st.ProveAll(ctx, nil); err != nil {
		st.Close()
		return nil, fmt.Errorf("demo seeder: checking the data: %w", err)
	}
	c, err := fetch.NewClient(fetch.Config{ListenAddr: "127.0.0.1:0", Logger: log})
	if err != nil {
		st.Close()
		return nil, err
	}
	t, err := c.AddTorrent(ctx, mi, st, fetch.TorrentOptions{})
	if err != nil {
		c.Close()
		st.Close()
		return nil, err
	}
	return func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = t.Close(cctx)
		_ = c.Close()
		_ = st.Close()
	}, nil
}

func writeTorrent(mi *metainfo.MetaInfo, path string) error {
	b, err := mi.Encode()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
