package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/mount"
)

func mountCommand() *command {
	return &command{
		name:    "mount",
		summary: "show a torrent's files as a read-only directory, streaming on demand",
		usage: `Usage: torfs mount [flags] TORRENT|MAGNET|DIR MOUNTPOINT

Mounts the torrent read-only on MOUNTPOINT. The files appear at once with
their real sizes; reading one fetches the pieces under the read first,
then a readahead window, and returns as soon as they are verified, so any
program can stream or seek in a file that is not downloaded yet. Pieces
held in the cache are uploaded to other peers while mounted.

A single-file torrent shows its file at MOUNTPOINT; a multi-file torrent
the contents of its directory. Given a DIR of .torrent files (and
.magnet files, each holding one magnet link), MOUNTPOINT shows one
directory per file and follows files added to or removed from DIR.

A MAGNET link (quote it for the shell) mounts at once: until the
torrent's metadata arrives from a peer, MOUNTPOINT holds one read-only
file, .torfs-resolving, saying what is going on (peers found and
connected, metadata pieces received, the last error, the time spent);
then the files replace it. The metadata is saved as
--cache-dir/torrents/INFOHASH.torrent, kept after unmount even without
--keep, so the next mount of the same magnet shows the files at once.

torfs mount runs in the foreground and prints one line once the mount is
live. Ctrl-C (or SIGTERM, or closing the terminal) unmounts at once; when
files are still open in the mount it detaches it lazily and serves them
for up to 3 s more (Ctrl-C again to stop at once); then it tells the
trackers and saves the cache. A dead mount left on MOUNTPOINT by a torfs
that was killed is cleared by the next mount there. A MOUNTPOINT that is
not empty draws a warning: its files stay hidden until unmount.
The cache lives in --cache-dir, one subdirectory per torrent, and is
deleted on exit unless --keep is given. 'torfs status MOUNTPOINT' shows
per-file progress, peers, rates and cache use.

Flags:
  --cache-dir DIR      cache location (default $XDG_CACHE_HOME/torfs or ~/.cache/torfs)
  --cache-size SIZE    disk budget, e.g. 2GiB: per torrent, or for a directory
                       the sum over all its torrents; 0 or "unlimited" keeps
                       everything (default: the torrent if it fits in half the
                       free space, else half the free space; for a directory,
                       half the free space shared by all its torrents)
  --keep               keep the cache after unmount, so a new mount starts with it
  --readahead SIZE     largest readahead window of a sequential reader (default 16MiB)
  --read-timeout DUR   fail a read with EIO after this long without progress
                       (default 2m; 0 waits forever)
  --resolve-timeout DUR
                       give up looking for a magnet link's metadata after this
                       long; .torfs-resolving then says why (default 0: never)
  --download-all       also download the rest in the background (within the budget)
  --no-upload          do not upload to other peers
  --peer HOST:PORT     connect to this peer (repeatable)
  --tracker URL        announce to this tracker too (repeatable)
  --listen ADDR        accept peers on ADDR (default ":0", a free port)
  --up-rate RATE       upload limit per second, e.g. 2MiB (default: none)
  --down-rate RATE     download limit per second (default: none)
` + encryptionFlagHelp + `  --status ADDR        loopback address of the status page (default 127.0.0.1:0)
  -o OPTION            mount option; only allow_other (other users may read)
  --daemon             detach once mounted; the log goes to a file it names
  -v                   log peer, tracker and mount events to stderr
` + utpFlagsHelp + portMapFlagsHelp + dhtFlagsHelp + `
Examples:
  torfs mount --daemon film.torrent /mnt/film && mpv /mnt/film/film.mkv
  torfs mount --cache-size 4GiB --download-all dataset.torrent /mnt/data
  torfs mount --daemon ~/torrents /mnt/torrents
  torfs mount --peer 192.0.2.7:6881 --read-timeout 30s iso.torrent /mnt/iso
  torfs mount 'magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=film' /mnt/film
  cat /mnt/film/.torfs-resolving
`,
		run: runMount,
	}
}

// envDaemonChild marks the detached child of --daemon.
const envDaemonChild = "TORFS_MOUNT_DAEMON_CHILD"

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("mount")
	var sf swarmFlags
	sf.register(fl)
	cacheDir := fl.String("cache-dir", "", "cache directory")
	cacheSize := fl.String("cache-size", "auto", "cache budget")
	keep := fl.Bool("keep", false, "keep the cache")
	readahead := fl.String("readahead", "16MiB", "readahead")
	readTimeout := fl.Duration("read-timeout", 2*time.Minute, "read timeout")
	resolveTimeout := fl.Duration("resolve-timeout", 0, "resolve timeout")
	downloadAll := fl.Bool("download-all", false, "download everything")
	noUpload := fl.Bool("no-upload", false, "no upload")
	statusAddr := fl.String("status", "", "status address")
	daemon := fl.Bool("daemon", false, "detach")
	debug := fl.Bool("debug-fuse", false, "log FUSE requests")
	var mountOpts stringsFlag
	fl.Var(&mountOpts, "o", "mount option")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("want a .torrent file, a magnet link (quoted) or a directory of .torrent files, and a mountpoint; got %d arguments", len(pos))
	}
	cfg, err := sf.config(stderr)
	if err != nil {
		return err
	}
	cfg.NoUpload = *noUpload
	allowOther := false
	for _, o := range strings.Split(strings.Join(mountOpts, ","), ",") {
		switch o {
		case "":
		case "allow_other":
			allowOther = true
		default:
			return usagef("-o %s: unsupported mount option (only allow_other)", o)
		}
	}
	size, err := parseCacheSize(*cacheSize)
	if err != nil {
		return err
	}
	ra, err := parseSize(*readahead)
	if err != nil || ra <= 0 {
		return usagef("--readahead: want a positive size such as 16MiB, got %q", *readahead)
	}
	if *readTimeout < 0 {
		return usagef("--read-timeout: want a duration such as 2m, 30s or 0, got %v", *readTimeout)
	}
	if *resolveTimeout < 0 {
		return usagef("--resolve-timeout: want a duration such as 10m or 0, got %v", *resolveTimeout)
	}
	if *cacheDir == "" {
		if *cacheDir, err = defaultCacheDir(); err != nil {
			return err
		}
	}
	if os.Getenv(envDaemonChild) == "" {
		warnNonEmpty(stderr, pos[1])
	}
	if *daemon && os.Getenv(envDaemonChild) == "" {
		return daemonize(ctx, args, pos[1], stdout, *cacheDir)
	}
	level := slog.LevelWarn
	if sf.verbose || *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = log

	var tiers [][]string
	for _, u := range sf.trackers {
		tiers = append(tiers, []string{u})
	}
	scfg := mount.Config{
		Fetch: cfg, CacheDir: *cacheDir, CacheSize: size, Keep: *keep,
		Reader:      fetch.ReaderOptions{Readahead: ra, StallTimeout: *readTimeout},
		DownloadAll: *downloadAll, Trackers: tiers, Peers: sf.peers, Logger: log, ResolveTimeout: *resolveTimeout,
	}
	mc := mount.Target{Source: pos[0], Mountpoint: pos[1], AllowOther: allowOther, StatusAddr: *statusAddr, Debug: *debug}

	if path := os.Getenv("TORFS_CPUPROFILE"); path != "" {
		// For bench/mount: profile the mount without a debug flag.
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stopProfile()
	}

	ctx, force, stopSigs := stopSignals(ctx)
	defer stopSigs()
	ready := func(m mount.Mounted) {
		cache := "cache unlimited in " + m.CacheDir
		switch {
		case m.Resolving:
			// The budget depends on the torrent's size, not known yet.
			cache = fmt.Sprintf("resolving the magnet's metadata: cat %s; cache in %s",
				filepath.Join(m.Mountpoint, fs.ResolvingName), m.CacheDir)
		case m.CacheShared:
			cache = fmt.Sprintf("cache %s shared by all torrents in %s", bytesize.Format(m.CacheBudget), m.CacheDir)
		case m.CacheBudget > 0:
			cache = fmt.Sprintf("cache %s in %s", bytesize.Format(m.CacheBudget), m.CacheDir)
		}
		// A daemon has no terminal to press Ctrl-C in: its parent
		// says how to stop it instead.
		hint := "; Ctrl-C to unmount"
		if os.Getenv(envDaemonChild) != "" {
			hint = ""
		}
		fmt.Fprintf(stdout, "mounted %s on %s (%s; status %s; peers connect to %s)%s\n",
			strings.Join(m.Torrents, ", "), m.Mountpoint, cache, m.StatusURL, m.Listen, hint)
		if f, ok := stdout.(*os.File); ok {
			_ = f.Sync()
		}
	}
	if err := mount.Serve(ctx, scfg, mc, ready, force); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "unmounted %s\n", pos[1])
	return nil
}

// stopSignals turns the signals that end a mount into its two steps: the
// first SIGINT, SIGTERM or SIGHUP (the terminal closed: left at its
// default, it would kill torfs and leave a dead mount behind) cancels the
// returned context, which unmounts; a second closes force, which stops
// serving files still open in a lazily detached mount, and cuts short
// telling the trackers. The caller's ctx ending counts as a first signal
// too. stop releases the signals.
func stopSignals(parent context.Context) (ctx context.Context, force <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	forced := make(chan struct{})
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		// Only this channel counts signals: main's handler sees the same
		// first SIGINT, so parent ending is not a signal of its own.
		for n := 1; n <= 2; n++ {
			select {
			case <-sig:
			case <-done:
				return
			}
			if n == 1 {
				cancel()
			} else {
				close(forced)
			}
		}
	}()
	return ctx, forced, func() {
		signal.Stop(sig)
		close(done)
		cancel()
	}
}

// parseCacheSize accepts a size, 0 or "unlimited" (no budget) and "auto"
// (a share of the free space: mount.Config.CacheSize < 0).
func parseCacheSize(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return -1, nil
	case "unlimited", "none":
		return 0, nil
	}
	n, err := parseSize(s)
	if err != nil {
		return 0, usagef("--cache-size: %v (or 0/unlimited, or auto)", err)
	}
	return n, nil
}

// defaultCacheDir is $XDG_CACHE_HOME/torfs, or ~/.cache/torfs.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "torfs"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set --cache-dir or $HOME (%w)", err)
	}
	return filepath.Join(home, ".cache", "torfs"), nil
}

// daemonize starts this same mount detached, its output in a log file in
// the cache directory, and returns once it is mounted (printing its line)
// or has failed.
func daemonize(ctx context.Context, args []string, mountpoint string, stdout io.Writer, cacheDir string) error {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	logPath := filepath.Join(cacheDir, fmt.Sprintf("mount-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	defer logf.Close()
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the torfs binary: %w", err)
	}
	cmd := exec.Command(self, append([]string{"mount"}, args...)...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("the daemon failed (%v): %s", err, strings.TrimSpace(string(out)))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return errors.New("interrupted before the mount was live")
		case <-tick.C:
			out, _ := os.ReadFile(logPath)
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "mounted ") {
					fmt.Fprintf(stdout, "%s\ntorfs mount runs as pid %d, logging to %s; unmount with 'fusermount3 -u %s' or kill %d\n",
						line, cmd.Process.Pid, logPath, mountpoint, cmd.Process.Pid)
					return nil
				}
			}
		}
	}
}

// warnNonEmpty says when the mount is about to hide the files of
// MOUNTPOINT. It warns rather than refuses: FUSE mounts over a non-empty
// directory fine, the files come back at unmount, and a mount at boot
// (a service, fstab) must not fail over a stray file; but a user who
// mounts over the wrong directory should learn why its files vanished.
func warnNonEmpty(stderr io.Writer, mountpoint string) {
	f, err := os.Open(mountpoint)
	if err != nil {
		return // not there (the mount says why), or a dead mount
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	if len(names) > 0 {
		fmt.Fprintf(stderr, "torfs mount: warning: %s is not empty: its %s stay hidden while the torrent is mounted there, and come back at unmount\n",
			mountpoint, plural.Count(len(names), "entry", "entries"))
	}
}
