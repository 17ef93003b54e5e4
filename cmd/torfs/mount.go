package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/httpserve"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
	"github.com/torfs/torfs/webui"
)

func mountCommand() *command {
	return &command{
		name:    "mount",
		summary: "show a torrent's files as a read-only directory, streaming on demand",
		usage: `Usage: torfs mount [flags] TORRENT|URL|MAGNET|DIR MOUNTPOINT

Mounts the torrent read-only on MOUNTPOINT. The files appear at once with
their real sizes; reading one fetches the pieces under the read first,
then a readahead window, and returns as soon as they are verified, so any
program can stream or seek in a file that is not downloaded yet. Pieces
held in the cache are uploaded to other peers while mounted. An http(s)
URL of a .torrent file is fetched first (within 60 s and 16 MiB) and kept
as --cache-dir/torrents/INFOHASH.torrent.

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
So does a v2-only .torrent whose 'piece layers' leave files out: the
placeholder stays until its peers sent the piece hashes missing.

torfs mount runs in the foreground and prints one line once the mount is
live. Ctrl-C (or SIGTERM, or closing the terminal) unmounts at once; when
files are still open in the mount it detaches it lazily and serves them
for up to 3 s more (Ctrl-C again to stop at once); then it tells the
trackers and saves the cache. A dead mount left on MOUNTPOINT by a torfs
that was killed is cleared by the next mount there. A MOUNTPOINT that is
not empty draws a warning: its files stay hidden until unmount.
Installed as /sbin/mount.torfs too (make install), torfs is mount(8)'s
helper for type torfs: an /etc/fstab line or a systemd .mount unit then
mounts a torrent at boot, its -o options the flags below (cache_size=,
cache_dir=, readahead=, allow_other...; the README's "Mount at boot").
The cache lives in --cache-dir, one subdirectory per torrent, and is
deleted on exit unless --keep is given. 'torfs status MOUNTPOINT' shows
per-file progress, peers, rates and cache use.

Flags:
` + sessionFlagsHelp + `  --status ADDR        loopback address of the status page (default 127.0.0.1:0)
` + httpFlagsHelp + `  -o OPTION            mount option; only allow_other (other users may read)
  --daemon             detach once mounted (exit 0), or fail with the mount's error;
                       the log goes to --log, the PID to --pid-file
  --log FILE           the log of --daemon (default /var/log/torfs/NAME.log for
                       root, else $XDG_STATE_HOME/torfs/NAME.log or
                       ~/.local/state/torfs/NAME.log; NAME is MOUNTPOINT's path
                       with / as -, as systemd names mount units); appended to
  --pid-file FILE      write the PID of the mount's process there while it is
                       mounted (default with --daemon: NAME.pid in the register
                       of mounts, /run/torfs for root, see 'torfs list')
` + utpFlagsHelp + portMapFlagsHelp + dhtFlagsHelp + `
Examples:
  torfs mount --daemon film.torrent /mnt/film && mpv /mnt/film/film.mkv
  torfs mount --cache-size 4GiB --download-all dataset.torrent /mnt/data
  torfs mount --daemon https://example.org/film.torrent /mnt/film
  torfs mount --daemon ~/torrents /mnt/torrents
  torfs mount --peer 192.0.2.7:6881 --read-timeout 30s iso.torrent /mnt/iso
  torfs mount 'magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=film' /mnt/film
  cat /mnt/film/.torfs-resolving
  torfs mount --daemon --http 127.0.0.1:8080 film.torrent /mnt/film
`,
		run: runMount,
	}
}

// sessionFlagsHelp documents the flags of sessionFlags.
const sessionFlagsHelp = `  --cache-dir DIR      cache location (default $XDG_CACHE_HOME/torfs or ~/.cache/torfs)
  --cache-size SIZE    disk budget, e.g. 2GiB: per torrent, or for a directory
                       the sum over all its torrents; 0 or "unlimited" keeps
                       everything (default: the torrent if it fits in half the
                       free space, else half the free space; for a directory,
                       half the free space shared by all its torrents)
  --keep               keep the cache after exit, so the next run starts with it
  --readahead SIZE     largest readahead window of a sequential reader (default 16MiB)
  --read-timeout DUR   fail a read after this long without progress
                       (default 2m; 0 waits forever)
  --resolve-timeout DUR
                       give up looking for a magnet link's metadata after this
                       long (default 0: never); a mount's .torfs-resolving and
                       the status say why
  --download-all       also download the rest in the background (within the budget)
  --no-upload          do not upload to other peers
  --peer HOST:PORT     connect to this peer (repeatable)
  --tracker URL        announce to this tracker too (repeatable)
  --listen ADDR        accept peers on ADDR (default ":0", a free port)
  --up-rate RATE       upload limit per second, e.g. 2MiB (default: none)
  --down-rate RATE     download limit per second (default: none)
  -v                   log peer, tracker and torrent events to stderr
` + encryptionFlagHelp

// httpFlagsHelp documents the flags of httpFlags.
const httpFlagsHelp = `  --http ADDR          serve the files over HTTP on ADDR (a port alone means
                       127.0.0.1:PORT): http://ADDR/t/INFOHASH/PATH with ranges,
                       /t/INFOHASH.m3u a playlist of its media files, /dav/
                       read-only WebDAV, / a list of them; with the status page
  --http-token TOKEN   every HTTP request must carry TOKEN ("Authorization:
                       Bearer TOKEN" or ?token=TOKEN); required when ADDR is
                       not a loopback address
  --http-token-file FILE
                       read the token from FILE (not shown in ps)
`

// sessionFlags are the flags mount and serve share: the swarm's, the
// cache's and the readers'.
type sessionFlags struct {
	swarm          swarmFlags
	cacheDir       string
	cacheSize      string
	keep           bool
	readahead      string
	readTimeout    time.Duration
	resolveTimeout time.Duration
	downloadAll    bool
	noUpload       bool
}

func (f *sessionFlags) register(fl *flag.FlagSet) {
	f.swarm.register(fl)
	fl.StringVar(&f.cacheDir, "cache-dir", "", "cache directory")
	fl.StringVar(&f.cacheSize, "cache-size", "auto", "cache budget")
	fl.BoolVar(&f.keep, "keep", false, "keep the cache")
	fl.StringVar(&f.readahead, "readahead", "16MiB", "readahead")
	fl.DurationVar(&f.readTimeout, "read-timeout", 2*time.Minute, "read timeout")
	fl.DurationVar(&f.resolveTimeout, "resolve-timeout", 0, "resolve timeout")
	fl.BoolVar(&f.downloadAll, "download-all", false, "download everything")
	fl.BoolVar(&f.noUpload, "no-upload", false, "no upload")
}

// check checks the flags without opening anything (--daemon checks them
// before its child opens the sockets), and returns the cache size and
// the readahead.
func (f *sessionFlags) check() (size, readahead int64, err error) {
	if size, err = parseCacheSize(f.cacheSize); err != nil {
		return 0, 0, err
	}
	readahead, err = parseSize(f.readahead)
	if err != nil || readahead <= 0 {
		return 0, 0, usagef("--readahead: want a positive size such as 16MiB, got %q", f.readahead)
	}
	if f.readTimeout < 0 {
		return 0, 0, usagef("--read-timeout: want a duration such as 2m, 30s or 0, got %v", f.readTimeout)
	}
	if f.resolveTimeout < 0 {
		return 0, 0, usagef("--resolve-timeout: want a duration such as 10m or 0, got %v", f.resolveTimeout)
	}
	if _, _, err := f.swarm.rates(); err != nil {
		return 0, 0, err
	}
	if f.swarm.noUTP && f.swarm.noTCP {
		return 0, 0, usagef("--no-utp and --no-tcp together leave no way to reach peers")
	}
	return size, readahead, nil
}

// config checks the flags and turns them into a mount.Config (its
// logger the swarm flags' one, at their level). It opens the listening
// sockets.
func (f *sessionFlags) config(stderr io.Writer) (mount.Config, error) {
	size, ra, err := f.check()
	if err != nil {
		return mount.Config{}, err
	}
	dir := f.cacheDir
	if dir == "" {
		if dir, err = defaultCacheDir(); err != nil {
			return mount.Config{}, err
		}
	}
	cfg, err := f.swarm.config(stderr)
	if err != nil {
		return mount.Config{}, err
	}
	cfg.NoUpload = f.noUpload
	var tiers [][]string
	for _, u := range f.swarm.trackers {
		tiers = append(tiers, []string{u})
	}
	return mount.Config{
		Fetch: cfg, CacheDir: dir, CacheSize: size, Keep: f.keep,
		Reader:      fetch.ReaderOptions{Readahead: ra, StallTimeout: f.readTimeout},
		DownloadAll: f.downloadAll, Trackers: tiers, Peers: f.swarm.peers, Logger: cfg.Logger, ResolveTimeout: f.resolveTimeout,
	}, nil
}

// httpFlags choose the HTTP server of mount and serve.
type httpFlags struct {
	addr, token, tokenFile string
}

func (f *httpFlags) register(fl *flag.FlagSet, addr string) {
	fl.StringVar(&f.addr, "http", addr, "HTTP address")
	fl.StringVar(&f.token, "http-token", "", "HTTP token")
	fl.StringVar(&f.tokenFile, "http-token-file", "", "file holding the HTTP token")
}

// resolve returns the address to serve files on ("" for none) and the
// token. It refuses an address beyond loopback without a token.
func (f *httpFlags) resolve() (addr, token string, err error) {
	addr, token = f.addr, f.token
	if _, err := strconv.ParseUint(addr, 10, 16); err == nil {
		addr = net.JoinHostPort("127.0.0.1", addr)
	}
	if f.tokenFile != "" {
		if token != "" {
			return "", "", usagef("give --http-token or --http-token-file, not both")
		}
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", "", fmt.Errorf("reading the HTTP token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", "", fmt.Errorf("the HTTP token file %s is empty", f.tokenFile)
		}
	}
	if addr == "" {
		if token != "" {
			return "", "", usagef("--http-token and --http-token-file need --http")
		}
		return "", "", nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", usagef("--http: want HOST:PORT or a port, such as 127.0.0.1:8080, got %q", f.addr)
	}
	if token == "" && !httpserve.Loopback(addr) {
		return "", "", usagef("--http %s listens beyond loopback, where anyone who reaches it could read the torrents: give --http-token TOKEN or --http-token-file FILE, or listen on 127.0.0.1", f.addr)
	}
	return addr, token, nil
}

// webPage is the live web page (and /metrics) a mount or serve shows at
// "/" of its HTTP server.
func webPage(log *slog.Logger) func(*mount.Session) http.Handler {
	return func(s *mount.Session) http.Handler { return webui.New(s, webui.Options{Logger: log}) }
}

func runMount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("mount")
	var sf sessionFlags
	sf.register(fl)
	var hf httpFlags
	hf.register(fl, "")
	statusAddr := fl.String("status", "", "status address")
	daemon := fl.Bool("daemon", false, "detach")
	logFile := fl.String("log", "", "daemon log file")
	pidFile := fl.String("pid-file", "", "PID file")
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
	httpAddr, token, err := hf.resolve()
	if err != nil {
		return err
	}
	if httpAddr != "" && *statusAddr != "" {
		return usagef("--http serves the status page too: give --http or --status, not both")
	}
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
	if os.Getenv(envDaemonChild) == "" {
		warnNonEmpty(stderr, pos[1])
	}
	if *logFile != "" && !*daemon {
		return usagef("--log is the log of --daemon; without it torfs mount logs to stderr")
	}
	if *daemon && os.Getenv(envDaemonChild) == "" {
		// Checked here, but opened by the daemon: the sockets of
		// --listen PORT must be free for it.
		if _, _, err := sf.check(); err != nil {
			return err
		}
		return daemonize(ctx, args, pos[1], stdout, *logFile, *pidFile)
	}
	scfg, err := sf.config(stderr)
	if err != nil {
		return err
	}
	source, err := torrentFile(ctx, pos[0], filepath.Join(scfg.CacheDir, "torrents"))
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if sf.swarm.verbose || *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	scfg.Logger, scfg.Fetch.Logger = log, log
	mc := mount.Target{Source: source, Mountpoint: pos[1], AllowOther: allowOther, StatusAddr: *statusAddr, Debug: *debug,
		HTTPAddr: httpAddr, HTTPToken: token, Page: webPage(log)}
	if os.Getenv(envDaemonChild) != "" {
		mp, _ := filepath.Abs(pos[1])
		mc.StopNow = fmt.Sprintf("run 'torfs umount %s' again", mp)
	}

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
	unregister := func() {}
	defer func() { unregister() }()
	ready := func(m mount.Mounted) {
		unregister = registerMount(m, pos[0], *pidFile, log)
		cache := "cache unlimited in " + m.CacheDir
		switch {
		case m.Resolving:
			// The budget depends on the torrent's size, not known yet.
			what := "resolving the magnet's metadata"
			if !metainfo.IsMagnet(source) {
				what = "fetching the piece hashes the torrent lacks from peers"
			}
			cache = fmt.Sprintf("%s: cat %s; cache in %s",
				what, filepath.Join(m.Mountpoint, fs.ResolvingName), m.CacheDir)
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
		files := ""
		if m.HTTPURL != "" {
			files = "; files at " + m.HTTPURL + "/"
		}
		fmt.Fprintf(stdout, "mounted %s on %s (%s; status %s%s; peers connect to %s)%s\n",
			strings.Join(m.Torrents, ", "), m.Mountpoint, cache, m.StatusURL, files, m.Listen, hint)
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
