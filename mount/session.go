// Package mount runs what `torfs mount` serves: one engine client, and
// for each torrent shown a cache directory, an engine session and the
// file system view of it. It is the wiring between fetch, cache and fs,
// kept out of the command so the demo and tests can run it in-process.
package mount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/metainfo"
	"golang.org/x/sys/unix"
)

// Config configures a Session.
type Config struct {
	// Fetch configures the engine client (listen address, rates, ...).
	Fetch fetch.Config
	// CacheDir holds one subdirectory per torrent, named by info-hash,
	// with the torrent's data and its resume state.
	CacheDir string
	// CacheSize is the disk budget in bytes: 0 means unlimited (the
	// whole torrent), negative means automatic: cache.DefaultBudget for a
	// single torrent (all of it when it fits in half the free space, else
	// half of that). A positive size is a single torrent's budget. In a
	// mount of a directory the budget, positive or automatic (half the
	// space free when the mount starts), bounds the sum over all its
	// torrents, with one eviction order across them (a cache.Pool).
	CacheSize int64
	// Keep leaves a torrent's cache directory on disk when it is closed,
	// so the next mount starts with its pieces; otherwise it is removed.
	Keep bool
	// Reader configures the reader of every open file (readahead, read
	// timeout).
	Reader fetch.ReaderOptions
	// DownloadAll fetches every piece in the background, not only what is
	// read.
	DownloadAll bool
	// Trackers and Peers add announce tiers and peer addresses to every
	// torrent.
	Trackers [][]string
	Peers    []string
	// Logger receives session events; nil discards.
	Logger *slog.Logger
	// ResolveTimeout bounds how long a magnet link's metadata is looked
	// for; past it the placeholder file says why it was not found and
	// stays until unmount. 0 looks until unmount.
	ResolveTimeout time.Duration
	// Resolver fetches the metadata of magnet links; nil means the engine
	// client's (fetch.Client.Resolve). Tests give a fake.
	Resolver Resolver
	// LayerResolver fetches the piece hashes a v2-only .torrent lacks
	// (its 'piece layers' leave files out) while the mount shows a
	// placeholder, as for a magnet link; nil means the engine client's
	// (fetch.Client.ResolveLayers). ResolveTimeout bounds it too.
	LayerResolver LayerResolver
}

// Session is an engine client and the torrents it serves to a mount.
type Session struct {
	cfg    Config
	log    *slog.Logger
	client *fetch.Client

	mu        sync.Mutex
	torrents  map[string]*Served     // by the name the mount shows
	resolving map[string]*resolution // magnet links without metadata yet, by name
	// retryDelay is the pause before resolving a magnet link again after
	// an attempt failed while the mount still wants it.
	retryDelay time.Duration
	// pool is the budget the torrents share (sharedBudget); nil when
	// each has its own.
	pool *cache.Pool
}

// Served is one torrent a Session serves: its cache directory, its cache
// and its engine session (a fetch.Torrent), which FS presents to the file
// system.
type Served struct {
	// Name is the directory name the mount shows (multi-torrent mounts).
	Name string
	// Meta is the parsed .torrent.
	Meta *metainfo.MetaInfo
	// Budget is the cache budget in bytes (0 = unlimited); in a mount of
	// a directory with a cache size, the budget all its torrents share.
	Budget int64
	// Dir is the torrent's cache directory.
	Dir string

	lock       *os.File // flock on Dir/lock while open
	cache      *cache.Cache
	tor        *fetch.Torrent
	readerOpts fetch.ReaderOptions

	// states is the buffer status fills with the piece states.
	mapMu  sync.Mutex
	states []byte

	added time.Time // the files' time when the torrent has no creation date
}

// New starts the engine client.
func New(cfg Config) (*Session, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Fetch.Logger == nil {
		cfg.Fetch.Logger = log
	}
	c, err := fetch.NewClient(cfg.Fetch)
	if err != nil {
		return nil, fmt.Errorf("starting the BitTorrent client: %w", err)
	}
	if cfg.Resolver == nil {
		cfg.Resolver = c.Resolve
	}
	if cfg.LayerResolver == nil {
		cfg.LayerResolver = c.ResolveLayers
	}
	return &Session{cfg: cfg, log: log, client: c, torrents: make(map[string]*Served),
		resolving: make(map[string]*resolution), retryDelay: resolveRetryDelay}, nil
}

// Addr is the address peers connect to.
func (s *Session) Addr() net.Addr { return s.client.Addr() }

// Add opens mi's cache and starts its engine session under name.
func (s *Session) Add(ctx context.Context, name string, mi *metainfo.MetaInfo) (*Served, error) {
	return s.add(ctx, name, mi, fetch.TorrentOptions{})
}

// add is Add with trackers, peers and web seeds for this torrent only (a
// magnet link's, the peers found while resolving it).
func (s *Session) add(ctx context.Context, name string, mi *metainfo.MetaInfo, extra fetch.TorrentOptions) (*Served, error) {
	if err := fetch.CheckSupported(mi); err != nil {
		// Before any cache is made for it: the engine would refuse it.
		return nil, err
	}
	s.mu.Lock()
	_, dup := s.torrents[name]
	s.mu.Unlock()
	same := s.shownAs(mi.Magnet())
	if dup {
		return nil, fmt.Errorf("a torrent named %q is already open", name)
	}
	if same != "" {
		return nil, fmt.Errorf("the same torrent (%s) is already shown as %q", mi.InfoHash, same)
	}
	dir := filepath.Join(s.cfg.CacheDir, mi.InfoHash.String())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	pool := s.pool
	s.mu.Unlock()
	budget := s.cfg.CacheSize
	if budget < 0 {
		b, err := cache.DefaultBudget(dir, mi.Info.Length)
		if err != nil {
			lock.Close()
			return nil, err
		}
		budget = b
	}
	copts := cache.Options{
		Dir:       filepath.Join(dir, "data"),
		StateFile: filepath.Join(dir, "state"),
		Budget:    budget,
		Logger:    s.log,
		// A v2-only torrent's piece hashes.
		PieceHashV2: mi.PieceHashV2,
	}
	if pool != nil {
		copts.Budget, copts.Pool = 0, pool
	}
	c, err := cache.Open(&mi.Info, copts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("opening the cache in %s: %w", dir, err)
	}
	opts := fetch.TorrentOptions{
		Trackers:    append(slices.Clone(s.cfg.Trackers), extra.Trackers...),
		Peers:       append(slices.Clone(s.cfg.Peers), extra.Peers...),
		WebSeeds:    extra.WebSeeds,
		DownloadAll: s.cfg.DownloadAll,
	}
	tor, err := s.client.AddTorrent(ctx, mi, c, opts)
	if err != nil {
		c.Close()
		lock.Close()
		return nil, fmt.Errorf("starting %s: %w", mi.Info.Name, err)
	}
	t := &Served{Name: name, Meta: mi, Budget: budget, Dir: dir, lock: lock, cache: c, tor: tor, readerOpts: s.cfg.Reader, added: time.Now()}
	s.mu.Lock()
	s.torrents[name] = t
	s.mu.Unlock()
	s.log.Info("torrent added", "name", name, "infohash", mi.InfoHash, "cache", dir, "budget", budget)
	if budget > 0 && budget < mi.Info.Length {
		// Said at the default level: re-reads will download again.
		s.log.Warn(fmt.Sprintf("the cache of %s holds %s of its %s: what is read is evicted and downloaded again on the next read; raise --cache-size to keep it",
			name, bytesize.Format(budget), bytesize.Format(mi.Info.Length)), "cache", dir)
	}
	return t, nil
}

// sharedBudget makes the torrents added from now on share one budget:
// a mount of a directory. The budget is the configured cache size, or,
// when automatic, half of the space free in the cache directory now, so
// that torrents arriving later cannot together fill the disk. An
// unlimited cache size shares nothing.
func (s *Session) sharedBudget() error {
	size := s.cfg.CacheSize
	if size == 0 {
		return nil
	}
	if size < 0 {
		free, err := cache.FreeSpace(s.cfg.CacheDir)
		if err != nil {
			return err
		}
		size = max(free/2, 1)
	}
	pool, err := cache.NewPool(size)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pool = pool
	s.mu.Unlock()
	return nil
}

// sharedSpace is what the torrents of a directory mount hold of the
// budget they share, and that budget (0 = unlimited: nothing shared).
func (s *Session) sharedSpace() (used, budget int64) {
	s.mu.Lock()
	pool := s.pool
	s.mu.Unlock()
	if pool == nil {
		return 0, 0
	}
	return pool.Used(), pool.Budget()
}

// FS is the torrent as the file system sees it.
func (t *Served) FS() fs.Torrent { return fsTorrent{t: t.tor, opts: t.readerOpts} }

// lockDir takes an exclusive lock on a torrent's cache directory: two
// processes writing the same cache would corrupt each other's state. The
// kernel drops the lock when the process dies, so a killed mount does not
// leave it behind.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking the cache: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("the cache %s is in use by another torfs process (is this torrent mounted twice?); stop it or give this mount another --cache-dir", dir)
		}
		return nil, fmt.Errorf("locking the cache %s: %w", dir, err)
	}
	return f, nil
}

// Remove stops the torrent shown as name: announces "stopped", saves its
// cache state and, without Keep, deletes its cache directory.
func (s *Session) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	t, ok := s.torrents[name]
	delete(s.torrents, name)
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("no torrent named %q", name)
	}
	return s.closeTorrent(ctx, t)
}

func (s *Session) closeTorrent(ctx context.Context, t *Served) error {
	var errs []error
	if err := t.tor.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stopping %s: %w", t.Name, err))
	}
	if err := t.cache.Close(); err != nil {
		errs = append(errs, fmt.Errorf("saving the cache of %s: %w", t.Name, err))
	}
	if !s.cfg.Keep {
		if err := os.RemoveAll(t.Dir); err != nil {
			errs = append(errs, fmt.Errorf("removing the cache of %s: %w", t.Name, err))
		}
	}
	t.lock.Close()
	return errors.Join(errs...)
}

// Close stops every torrent (announcing "stopped" within ctx) and the
// client.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	ts := s.torrents
	s.torrents = make(map[string]*Served)
	s.mu.Unlock()
	var errs []error
	for _, t := range ts {
		errs = append(errs, s.closeTorrent(ctx, t))
	}
	errs = append(errs, s.client.Close())
	return errors.Join(errs...)
}

// shownAs returns the name of the session's torrent that m names, or "".
func (s *Session) shownAs(m *metainfo.Magnet) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, t := range s.torrents {
		if sameTorrent(&metainfo.Magnet{InfoHash: t.Meta.InfoHash, InfoHashV2: t.Meta.InfoHashV2}, m) {
			return name
		}
	}
	return ""
}

// sameTorrent reports whether a and b name one torrent: by a v1
// info-hash both have, or by a v2 one both have, so that a magnet link
// with only urn:btmh names the hybrid its .torrent file is.
func sameTorrent(a, b *metainfo.Magnet) bool {
	return a.HasV1() && b.HasV1() && a.InfoHash == b.InfoHash ||
		a.HasV2() && b.HasV2() && a.InfoHashV2 == b.InfoHashV2
}
