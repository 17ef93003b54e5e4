package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

func getCommand() *command {
	return &command{
		name:    "get",
		summary: "download a torrent's or magnet link's files to a directory",
		usage: `Usage: torfs get [flags] FILE.torrent|URL|MAGNET

Downloads every file of the torrent into DIR (the current directory by
default), verifying each piece against its SHA-1 hash, and exits 0 once
everything is there. It uploads to other peers while it downloads. An
interrupted download resumes where it stopped when run again with the same
DIR (the state is kept in DIR/.<info-hash>.torfs). When DIR has too
little free space for the torrent, it downloads what fits and stops with
"cache disk full" and exit status 1, keeping every verified piece for the
next run.

An http(s) URL of a .torrent file is fetched first (within 60 s and
16 MiB; the server must answer 200 with a .torrent).

A magnet link (quote it for the shell) is first resolved: its metadata is
fetched from peers (BEP 9) and checked against its info-hash, with progress
on stderr. The resulting .torrent is saved as DIR/.<info-hash>.torrent, so
running the same command again resumes without resolving.

--only GLOB and --exclude GLOB (both repeatable) download some files
only: a file is selected when it matches an --only pattern (any file, with
none) and no --exclude pattern. A pattern matches a file's path inside the
torrent (dir/file.mkv, without the torrent's own directory) or its base
name, with the syntax of Go's path.Match: * and ? never cross a /, [a-z]
classes, \ escapes; ** is not special. Only the pieces of selected files
are downloaded, plus the pieces they share with their neighbours. Files
are then written sparse, not preallocated: the others exist at their full
size but hold only the bytes of those shared pieces (zeros elsewhere).
'Complete' means every selected file is.

Peers come from the torrent's trackers, the DHT, --tracker URLs, --peer
addresses and the magnet link's x.pe peers; with --peer no tracker is
needed at all. Private torrents never use the DHT.

Flags:
  -o DIR             where to put the files (default: current directory)
  --peer HOST:PORT   connect to this peer (repeatable)
  --tracker URL      announce to this tracker too (repeatable)
  --listen ADDR      accept peers on ADDR (default ":0", a free port)
  --only GLOB        download only the files matching GLOB (repeatable)
  --exclude GLOB     do not download the files matching GLOB (repeatable)
  --seed             keep seeding after the download until interrupted
  --seed-ratio R     keep seeding after the download until R times its size
                     is uploaded (e.g. 1 or 2.5), then exit 0
  --seed-time DUR    keep seeding after the download for DUR (e.g. 2h), then
                     exit 0; with --seed-ratio, whichever comes first
  --up-rate RATE     upload limit per second, e.g. 2MiB (default: none)
  --down-rate RATE   download limit per second (default: none)
` + encryptionFlagHelp + `  -v                 log peer and tracker events to stderr
` + utpFlagsHelp + portMapFlagsHelp + dhtFlagsHelp + `
Examples:
  torfs get ubuntu.iso.torrent
  torfs get -o ~/isos https://example.org/ubuntu.iso.torrent
  torfs get -o ~/data --peer 192.0.2.7:6881 dataset.torrent
  torfs get --seed --up-rate 1MiB --listen :6881 movie.torrent
  torfs get --only '*.mkv' --only 'subs/*.srt' season1.torrent
  torfs get --seed-ratio 2 --seed-time 12h ubuntu.iso.torrent
  torfs get --exclude '*.nfo' --exclude 'samples/*' dataset.torrent
  torfs get -o ~/data 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp'
  torfs get --no-dht 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&x.pe=192.0.2.7:6881'
`,
		run: runGet,
	}
}

// swarmFlags are the flags get, seed and mount share.
type swarmFlags struct {
	peers, trackers stringsFlag
	listen          string
	upRate          string
	downRate        string
	verbose         bool
	encryption      fetch.Encryption
	noUTP, noTCP    bool
	noPortMap       bool
	dht             dhtFlags
}

func (f *swarmFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.peers, "peer", "peer address")
	fs.Var(&f.trackers, "tracker", "tracker URL")
	fs.StringVar(&f.listen, "listen", ":0", "listen address")
	fs.StringVar(&f.upRate, "up-rate", "0", "upload limit")
	fs.StringVar(&f.downRate, "down-rate", "0", "download limit")
	fs.BoolVar(&f.verbose, "v", false, "verbose")
	fs.Var(&f.encryption, "encryption", "prefer, require or off")
	fs.BoolVar(&f.noUTP, "no-utp", false, "TCP only")
	fs.BoolVar(&f.noTCP, "no-tcp", false, "uTP only")
	fs.BoolVar(&f.noPortMap, "no-port-map", false, "no UPnP or NAT-PMP")
	f.dht.register(fs)
}

// rates parses --up-rate and --down-rate.
func (f *swarmFlags) rates() (up, down int64, err error) {
	if up, err = parseSize(f.upRate); err != nil {
		return 0, 0, usagef("--up-rate: %v", err)
	}
	if down, err = parseSize(f.downRate); err != nil {
		return 0, 0, usagef("--down-rate: %v", err)
	}
	return up, down, nil
}

// config turns the flags into a fetch.Config.
func (f *swarmFlags) config(stderr io.Writer) (fetch.Config, error) {
	up, down, err := f.rates()
	if err != nil {
		return fetch.Config{}, err
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	dht, err := f.dht.config()
	if err != nil {
		return fetch.Config{}, err
	}
	transports, sock, err := listenTransports(f.listen, f.noUTP, f.noTCP)
	if err != nil {
		return fetch.Config{}, err
	}
	if sock != nil {
		sock.SetLogger(log) // -v: each uTP connection's counters as it ends
	}
	if dht != nil && dht.Addr == "" && sock != nil {
		// One UDP port for uTP and the DHT; on a socket of both families
		// (the default), an IPv4 and an IPv6 DHT node (BEP 32).
		if a := sock.AddrPort().Addr(); a.Is6() && a.IsUnspecified() {
			dht.Conn, dht.Conn6 = sock.PacketConns()
		} else {
			dht.Conn = sock.PacketConn()
			if host, _, _ := net.SplitHostPort(f.listen); host == "" {
				log.Info("no IPv6 here: uTP and the DHT on IPv4 only", "socket", a)
			}
		}
	}
	mapPort := portMapper(f.listen, f.noPortMap, sock != nil || dht != nil && dht.Addr == "", log)
	return fetch.Config{ListenAddr: f.listen, Transports: transports, UploadRate: up, DownloadRate: down, Logger: log, DHT: dht, Encryption: f.encryption, MapPort: mapPort}, nil
}

// options turns the flags into torrent options.
func (f *swarmFlags) options(mi *metainfo.MetaInfo) fetch.TorrentOptions {
	var tiers [][]string
	for _, u := range f.trackers {
		tiers = append(tiers, []string{u})
	}
	return fetch.TorrentOptions{Trackers: tiers, Peers: f.peers}
}

func runGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("get")
	var sf swarmFlags
	sf.register(fs)
	dir := fs.String("o", ".", "output directory")
	keepSeeding := fs.Bool("seed", false, "seed after completion")
	var sel selection
	sel.register(fs)
	var limits seedLimits
	limits.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := sel.check(); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one .torrent file or magnet link, got %d arguments", len(pos))
	}
	cfg, err := sf.config(stderr)
	if err != nil {
		return err
	}
	var (
		mi     *metainfo.MetaInfo
		magnet *metainfo.Magnet
	)
	if metainfo.IsMagnet(pos[0]) {
		if magnet, err = metainfo.ParseMagnet(pos[0]); err != nil {
			return err
		}
	} else if mi, err = loadTorrent(ctx, pos[0]); err != nil {
		return err
	}
	opts := sf.options(mi)
	opts.DownloadAll = true
	if magnet != nil {
		opts.Peers = append(opts.Peers, magnet.Peers...)
	} else if err := checkPeerSources(pos[0], mi, opts, cfg); err != nil {
		return err
	}
	c, err := fetch.NewClient(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if magnet != nil {
		saved := filepath.Join(*dir, "."+magnet.InfoHash.String()+".torrent")
		var peers []string
		if mi, peers, err = loadOrResolve(ctx, c, magnet, opts, saved, stderr); err != nil {
			return err
		}
		opts.Peers = append(opts.Peers, peers...)
	}
	if err := fetch.CheckSupported(mi); err != nil {
		// A v2-only torrent whose piece layers leave files out: the
		// hashes missing come from its peers (BEP 52 hash requests).
		peers, err := resolveLayersWithProgress(ctx, c, mi, opts, stderr)
		if err != nil {
			return err
		}
		opts.Peers = append(opts.Peers, peers...)
	}
	copts := cache.Options{
		Dir:         *dir,
		StateFile:   filepath.Join(*dir, "."+mi.InfoHash.String()+".torfs"),
		Logger:      cfg.Logger,
		PieceHashV2: mi.PieceHashV2,
	}
	var selected []selectedFile
	if sel.active() {
		if opts.Wanted, selected, err = sel.pieces(&mi.Info); err != nil {
			return err
		}
		// Sparse files, not preallocated: the unselected ones take no
		// room beyond the pieces they share with selected files.
		copts.Budget = cache.Keep
	}
	_, statErr := os.Stat(*dir)
	created := errors.Is(statErr, os.ErrNotExist)
	st, err := cache.Open(&mi.Info, copts)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		// Too little room to preallocate: fetch what fits into sparse
		// files, kept for a later run, and stop when the disk is full.
		fmt.Fprintf(stderr, "not enough free space in %s to hold %s; downloading what fits\n", *dir, bytesize.Format(mi.Info.Length))
		copts.Budget = cache.Keep
		st, err = cache.Open(&mi.Info, copts)
	}
	if err != nil {
		if created {
			// Leave nothing behind: an empty directory (or empty
			// files) would only puzzle the user.
			_ = os.RemoveAll(*dir)
		}
		if errors.Is(err, syscall.EDQUOT) {
			return fmt.Errorf("%s has no room even for the download's state (%w): free some space and run again", *dir, syscall.EDQUOT)
		}
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("%s has no room even for the download's state (%w): free some space and run again", *dir, syscall.ENOSPC)
		}
		return fmt.Errorf("preparing %s: %w", *dir, err)
	}
	defer st.Close()
	if n := st.Stats().Unproven; n > 0 {
		if err := proveWithProgress(ctx, st, stderr, "checking existing data"); err != nil {
			return err
		}
	}
	if path := os.Getenv("TORFS_CPUPROFILE"); path != "" {
		// For bench/swarm: profile the download without a debug flag.
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	t, err := c.AddTorrent(ctx, mi, st, opts)
	if err != nil {
		return err
	}
	s := &swarm{client: c, tor: t, wanted: opts.Wanted}
	defer s.stop()

	_, total := s.progress()
	bar := newProgressBar(stderr, mi.Info.Name, total)
	if err := s.waitComplete(ctx, bar, *dir); err != nil {
		return err
	}
	if os.Getenv("TORFS_BENCH_TIMES") != "" {
		// For bench/swarm: the moment of completion, free of the delay
		// with which a busy machine schedules the reader of stdout; the
		// time from here to exit is what finishing costs.
		fmt.Fprintf(stderr, "torfs-bench: complete at %d\n", time.Now().UnixNano())
	}
	bar.Finish()
	stats := s.tor.Stats()
	what := fmt.Sprintf("%s (%s)", mi.Info.Name, bytesize.Format(mi.Info.Length))
	if selected != nil {
		var size int64
		for _, f := range selected {
			size += f.length
		}
		what = fmt.Sprintf("%s of %s (%s of %s)", plural.Count(len(selected), "file", "files"), mi.Info.Name, bytesize.Format(size), bytesize.Format(mi.Info.Length))
	}
	fmt.Fprintf(stdout, "downloaded %s to %s; received %d bytes (peers and web seeds), uploaded %d bytes to peers\n",
		what, *dir, stats.Downloaded, stats.Uploaded)
	switch {
	case limits.set():
		fmt.Fprintf(stderr, "seeding on %s until %s; press Ctrl-C to stop sooner\n", s.client.Addr(), limits)
		s.seedUntil(ctx, stderr, limits, total)
	case *keepSeeding:
		fmt.Fprintf(stderr, "seeding on %s; press Ctrl-C to stop\n", s.client.Addr())
		s.seedUntil(ctx, stderr, limits, total)
	}
	return nil
}

// checkPeerSources refuses a torrent that gives no way to find peers.
func checkPeerSources(name string, mi *metainfo.MetaInfo, opts fetch.TorrentOptions, cfg fetch.Config) error {
	if len(mi.Trackers()) > 0 || len(opts.Trackers) > 0 || len(opts.Peers) > 0 || len(mi.URLList) > 0 || len(opts.WebSeeds) > 0 {
		return nil
	}
	switch {
	case mi.Info.Private:
		return usagef("%s is private and names no tracker: give peers with --peer HOST:PORT or a tracker with --tracker URL", name)
	case cfg.DHT == nil:
		return usagef("%s names no tracker and the DHT is off: give peers with --peer HOST:PORT or a tracker with --tracker URL", name)
	}
	return nil
}

// swarm is a running client with one torrent.
type swarm struct {
	client *fetch.Client
	tor    *fetch.Torrent
	// wanted are the pieces to download (fetch.TorrentOptions.Wanted);
	// nil for all.
	wanted []bool
}

// progress returns the bytes held of the pieces to download, and their
// total.
func (s *swarm) progress() (done, total int64) {
	info := s.tor.Info()
	if s.wanted == nil {
		return s.tor.Stats().VerifiedBytes, info.Length
	}
	for i, w := range s.wanted {
		if w {
			off, n := info.PieceOffset(i), info.PieceSize(i)
			total += n
			done += s.tor.VerifiedBytes(off, n)
		}
	}
	return done, total
}

// startSwarm starts a client and adds one torrent.
func startSwarm(ctx context.Context, cfg fetch.Config, mi *metainfo.MetaInfo, st fetch.Storage, opts fetch.TorrentOptions) (*swarm, error) {
	c, err := fetch.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	t, err := c.AddTorrent(ctx, mi, st, opts)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &swarm{client: c, tor: t}, nil
}

// stop announces "stopped" (a few seconds at most) and closes everything.
// The client may be closed again after it.
func (s *swarm) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.tor.Close(ctx)
	s.client.Close()
}

// waitComplete shows progress until the torrent is complete, ctx ends or
// the disk under dir fills up.
func (s *swarm) waitComplete(ctx context.Context, bar *progressBar, dir string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.tor.WantedComplete():
			_, total := s.progress()
			bar.Update(total, total)
			return nil
		case <-ctx.Done():
			done, total := s.progress()
			bar.Finish()
			pct := 100.0
			if total > 0 {
				pct = 100 * float64(done) / float64(total)
			}
			return fmt.Errorf("interrupted at %.1f%%; run the same command again to resume", pct)
		case <-tick.C:
			st := s.tor.Stats()
			if err := s.tor.DiskFull(); err != nil {
				// What is left cannot be stored: stop rather than churn.
				bar.Finish()
				return fmt.Errorf("%w\nthe %s verified so far is kept; free some space in %s and run the same command again to resume",
					err, bytesize.Format(st.VerifiedBytes), dir)
			}
			bar.mu.Lock()
			bar.label = fmt.Sprintf("%s (%s)", s.tor.Info().Name, plural.Count(len(st.Peers), "peer", "peers"))
			bar.mu.Unlock()
			bar.SetSuffix(fmt.Sprintf("up %s/s  ratio %s", bytesize.Format(int64(st.UploadRate)), ratio(st.Uploaded, st.Downloaded)))
			bar.Update(s.progress())
		}
	}
}

// seedUntil serves peers until ctx ends or a limit is reached (size is
// what the ratio divides by), printing a status line now and then.
func (s *swarm) seedUntil(ctx context.Context, stderr io.Writer, limits seedLimits, size int64) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	var check <-chan time.Time
	if limits.set() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		check = t.C
	}
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			st := s.tor.Stats()
			fmt.Fprintf(stderr, "stopped; uploaded %s\n", bytesize.Format(st.Uploaded))
			return
		case <-check:
			st := s.tor.Stats()
			if why := limits.reached(st.Uploaded, size, time.Since(start)); why != "" {
				fmt.Fprintf(stderr, "stopped seeding: %s; uploaded %s\n", why, bytesize.Format(st.Uploaded))
				return
			}
		case <-tick.C:
			st := s.tor.Stats()
			target := ""
			if limits.ratio > 0 {
				target = " of " + strconv.FormatFloat(limits.ratio, 'g', -1, 64)
			}
			fmt.Fprintf(stderr, "seeding: %s, up %s/s, uploaded %s, ratio %s%s\n", plural.Count(len(st.Peers), "peer", "peers"),
				bytesize.Format(int64(st.UploadRate)), bytesize.Format(st.Uploaded), ratio(st.Uploaded, size), target)
		}
	}
}

// ratio is up/down for people: "0.42", or "-" before anything came down.
func ratio(up, down int64) string {
	if down <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(up)/float64(down), 'f', 2, 64)
}

// proveWithProgress hashes data found on disk, showing progress.
func proveWithProgress(ctx context.Context, st *cache.Cache, stderr io.Writer, label string) error {
	info := st.Info()
	bar := newProgressBar(stderr, label, info.Length)
	err := st.ProveAll(ctx, func(done, total int) {
		bar.Update(min(int64(done)*info.PieceLength, info.Length), info.Length)
	})
	bar.Finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted while checking existing data")
		}
		return fmt.Errorf("checking existing data: %w", err)
	}
	return nil
}

// startCPUProfile writes a CPU profile to path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
