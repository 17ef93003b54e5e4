package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/metainfo"
)

// Errors a caller can test with errors.Is.
var (
	// ErrNotVerified means a read touched a piece that is not verified.
	ErrNotVerified = errors.New("cache: piece not verified")
	// ErrBudget means the pieces in use (written, verified or read right
	// now), and those the readers need (SetDemand), leave no room for
	// another piece within the budget. It also matches, with errors.Is,
	// the full-storage error of a storage contract that marks its own
	// with a method StorageFull() bool, such as fetch.ErrStorageFull.
	ErrBudget error = budgetError{}
	// ErrClosed means the cache was used after Close.
	ErrClosed = errors.New("cache: closed")
)

type budgetError struct{}

func (budgetError) Error() string { return "cache: budget smaller than the working set" }

// Is lets ErrBudget match a storage contract's full-storage error without
// this package importing the contract's.
func (budgetError) Is(target error) bool {
	f, ok := target.(interface{ StorageFull() bool })
	return ok && f.StorageFull()
}

// Budgets that are not a number of bytes, for Options.Budget.
const (
	// Unlimited keeps every piece, in files preallocated at Open so that
	// a full disk shows up then rather than in the middle of a download.
	Unlimited int64 = 0
	// Keep keeps every piece in sparse files and never evicts nor
	// punches holes, so it cannot destroy data it did not write (torfs
	// seed over a user's files, torfs get into a directory too small to
	// preallocate). Only a full disk (ErrDiskFull) makes it evict.
	Keep int64 = -1
)

// DefaultMaxOpenFiles is the number of backing files kept open when
// Options.MaxOpenFiles is 0.
const DefaultMaxOpenFiles = 64

// DefaultSaveInterval is how often a changed state is saved when
// Options.SaveInterval is 0.
const DefaultSaveInterval = 30 * time.Second

// Options configures a Cache.
type Options struct {
	// Dir holds the torrent's files: a single-file torrent is Dir/<Name>,
	// a multi-file torrent Dir/<Name>/<Path...>.
	Dir string
	// PieceHashV2 gives the expected BEP 52 hash of each piece of a
	// v2-only torrent, which has no SHA-1 piece hashes
	// (metainfo.MetaInfo.PieceHashV2). Open fails for such a torrent
	// without it, or when it does not know every piece's hash. It is not
	// used for v1 and hybrid torrents, verified by SHA-1.
	PieceHashV2 func(p int) (metainfo.Hash256, bool)
	// StateFile is where the resume state is written atomically; "" means
	// no persistence.
	StateFile string
	// Budget is the maximum number of bytes of piece data on disk,
	// counted in filesystem blocks, or Unlimited (0) or Keep. A byte
	// budget of at least the torrent's length keeps everything as Keep
	// does (disk use is then at most the torrent's files rounded up to
	// whole blocks).
	Budget int64
	// MaxOpenFiles bounds the descriptors kept open (plus those in use by
	// I/O in flight); 0 means DefaultMaxOpenFiles.
	MaxOpenFiles int
	// Logger receives warnings about dropped pieces and failed saves;
	// nil discards them.
	Logger *slog.Logger
	// SaveInterval is how often a changed state is saved; 0 means
	// DefaultSaveInterval.
	SaveInterval time.Duration
	// Pool, if not nil, is the budget the cache shares with others
	// (one mount's torrents), instead of a budget of its own: Budget
	// must then be 0. The files are sparse and pieces are evicted
	// whenever the pool's caches together need the room.
	Pool *Pool
}

// Stats is a snapshot of a cache's occupancy.
type Stats struct {
	Budget    int64 // Options.Budget or the Pool's, or less after a full disk (ErrDiskFull); 0 = Unlimited or Keep
	Used      int64 // bytes charged to pieces held on disk (whole blocks)
	Verified  int   // pieces verified and readable
	Unproven  int   // pieces on disk waiting for Prove
	Evictions int64 // pieces evicted to make room since Open
	OpenFiles int   // backing file descriptors open right now
}

// Cache holds one torrent's pieces on disk. All methods are safe for
// concurrent use; operations on different pieces do not wait for each
// other's I/O.
type Cache struct {
	info      *metainfo.Info
	v2        []metainfo.Hash256 // each piece's expected hash, for a v2-only torrent
	opts      Options
	log       *slog.Logger
	files     *fileSet
	blockSize int64
	// keepAll is set when the budget holds the whole torrent: nothing is
	// ever evicted or punched, so existing data is never destroyed.
	keepAll bool
	// holdDirty is set for a cache that evicts whose pieces can wait in
	// memory (recordAfter, see holdsDirty).
	holdDirty bool
	// capacity is what Capacity returns.
	capacity atomic.Int64
	// footprint[p] is what piece p is charged: its byte ranges in the
	// backing files rounded out to whole blocks.
	footprint []int64
	hashers   sync.Pool // *hasher
	partials  sync.Pool // *partial
	writeBufs bufList   // of capacity runSize
	// runSize is the capacity of the write-behind buffers: writeBehind,
	// smaller in tests so that small pieces go through the flusher.
	runSize int
	// writeBufsHeld counts the write-behind buffers pieces hold.
	writeBufsHeld atomic.Int32
	// flushQ feeds the flusher goroutine full write-behind buffers; it is
	// closed by Close once no WriteBlock is in flight, and flusherDone
	// is closed when the flusher has written everything and exited.
	flushQ      chan *flushJob
	flusherDone chan struct{}
	// aside holds up to flushQueue jobs that end a piece, kept from the
	// flusher until the next kick (see writeInOrder); asideN is its
	// length, read without the lock.
	asideMu sync.Mutex
	aside   []*flushJob
	asideN  atomic.Int32
	// written marks backing files written since the last flush.
	written []atomic.Bool
	// writeback starts the disk writes of what the flusher and the
	// writers wrote, behind them (writeback.go).
	writeback *writeback

	// allocMu orders every change of which pieces occupy disk space
	// (reservations, evictions, drops) with the hole punching that
	// follows, so a hole is never punched under a piece that became
	// present meanwhile. It is taken before mu and never on the read path.
	allocMu sync.Mutex

	mu        sync.Mutex
	changed   *sync.Cond // on mu: a piece left a transient state
	pieces    []piece
	lru       *pieceLRU // verified and unproven pieces, least recently used first
	used      int64
	evictable int64 // bytes charged to the pieces in lru that are not pinned
	verified  int
	unproven  int
	evictions int64
	writing   int // WriteBlock calls in flight, all pieces
	dirty     bool
	closed    bool

	// demand is what the readers want, for eviction (SetDemand); nil
	// until set.
	demand atomic.Pointer[demand]
	// reading is set while the demand has reads or windows.
	reading atomic.Bool
	// shrunk is set once the disk filled up: limit, lower than
	// Options.Budget, is the budget from then on (diskFull), and a cache
	// that kept everything evicts.
	shrunk bool
	limit  int64
	// punchQ holds the holes of evicted and dropped pieces for the punch
	// worker; punchWarned is set once a failed punch was logged.
	punchQ      punchQueue
	punchWarned atomic.Bool
	// pool is Options.Pool; inPool is set, under mu, while the cache
	// is a member and its charges count in the pool. stamps[p] is when
	// piece p was last used, on the pool's clock.
	pool   *Pool
	inPool bool
	stamps []uint64
	// onEvict is told of every evicted piece (OnEvict), never with a
	// lock held.
	onEvict atomic.Pointer[func(int)]

	// saveMu orders saves with journal flushes.
	saveMu    sync.Mutex
	stopSaver context.CancelFunc // stops the saver, the journaler and the writeback
	saverDone chan struct{}
	// journal records verified and evicted pieces between saves; nil
	// without a state file.
	journal       *journal
	journalerDone chan struct{}
}

// Open prepares the backing files for info under opts.Dir, loads the resume
// state and returns the cache. Close must be called to release it.
func Open(info *metainfo.Info, opts Options) (*Cache, error) {
	if info == nil || info.PieceLength <= 0 || info.NumPieces() == 0 {
		return nil, errors.New("cache: torrent has no pieces")
	}
	v2, err := v2Hashes(info, opts.PieceHashV2)
	if err != nil {
		return nil, err
	}
	if opts.Budget < 0 && opts.Budget != Keep {
		return nil, fmt.Errorf("cache: negative budget %d", opts.Budget)
	}
	if opts.Pool != nil && opts.Budget != 0 {
		return nil, fmt.Errorf("cache: a budget of %d given with a shared pool", opts.Budget)
	}
	if opts.MaxOpenFiles <= 0 {
		opts.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if opts.SaveInterval <= 0 {
		opts.SaveInterval = DefaultSaveInterval
	}
	c := &Cache{info: info, v2: v2, opts: opts, log: opts.Logger, runSize: writeBehind, pool: opts.Pool}
	budget := opts.Budget
	if c.pool != nil {
		budget = c.pool.Budget()
	} else {
		c.keepAll = opts.Budget == Unlimited || opts.Budget == Keep || opts.Budget >= info.Length
	}
	if !c.keepAll {
		c.capacity.Store(budget)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.changed = sync.NewCond(&c.mu)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: creating data directory: %w", err)
	}
	c.blockSize = blockSize(opts.Dir)
	c.holdDirty = !c.keepAll && holdsDirty(opts.Dir, opts.StateFile)
	c.footprint = footprints(info, c.blockSize)
	if !c.keepAll {
		if biggest := slices.Max(c.footprint); budget < biggest {
			return nil, fmt.Errorf("%w: a cache size of %s cannot hold even one piece (%s on this filesystem); raise the cache size",
				ErrBudget, bytesize.Format(budget), bytesize.Format(biggest))
		}
	}
	paths := backingPaths(info, opts.Dir)
	pre, err := prepareFiles(info, paths, opts.Budget == Unlimited && c.pool == nil)
	if err != nil {
		return nil, err
	}
	files, err := newFileSet(paths, opts.MaxOpenFiles)
	if err != nil {
		return nil, err
	}
	c.files = files
	c.written = make([]atomic.Bool, len(paths))
	c.writeback = newWriteback(len(paths))
	n := info.NumPieces()
	c.pieces = make([]piece, n)
	c.lru = newPieceLRU(n)
	if c.pool != nil {
		c.stamps = make([]uint64, n)
	}
	if opts.StateFile != "" {
		c.journal = newJournal(func(msg string, err error) { c.log.Warn(msg, "err", err) })
	}
	st := c.loadState(pre)
	c.restore(st, pre)
	// The punch worker runs from here: a trim in a pool may evict from
	// the other members, and they from this one.
	c.punchQ.init(headroom(budget, slices.Max(c.footprint)))
	go c.puncher()
	fail := func(err error) (*Cache, error) {
		if c.pool != nil {
			c.pool.leave(c)
		}
		c.stopPuncher()
		c.files.close()
		return nil, err
	}
	if c.pool != nil {
		c.pool.join(c)
	}
	if err := c.trim(); err != nil {
		return fail(err)
	}
	if opts.StateFile != "" {
		// Mark the state unclean right away, naming a new journal: if the
		// process dies from now on, the next Open trusts only what that
		// journal and the state vouch for.
		if err := c.save(false); err != nil {
			return fail(err)
		}
	}
	c.flushQ = make(chan *flushJob, flushQueue)
	c.flusherDone = make(chan struct{})
	go c.flusher()
	ctx, cancel := context.WithCancel(context.Background())
	c.stopSaver = cancel
	c.saverDone = make(chan struct{})
	go c.saver(ctx)
	go c.runWriteback(ctx)
	c.journalerDone = make(chan struct{})
	if c.journal != nil {
		go c.journaler(ctx)
	} else {
		close(c.journalerDone)
	}
	return c, nil
}

// Close saves the state as clean and closes the backing files. Calls made
// after Close fail with ErrClosed.
func (c *Cache) Close() error {
	if c.pool != nil {
		c.pool.leave(c)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.changed.Broadcast() // waiters return ErrClosed
	// Writes in flight may still queue buffers; once they are done, the
	// flusher writes out the queue and stops.
	for c.writing > 0 {
		c.changed.Wait()
	}
	c.mu.Unlock()
	c.kick()
	close(c.flushQ)
	<-c.flusherDone
	c.stopPuncher()
	c.stopSaver()
	<-c.saverDone
	<-c.journalerDone
	<-c.writeback.done
	var err error
	if c.opts.StateFile != "" {
		err = c.save(true)
		if isNoSpace(err) && c.freeUnfinished() {
			err = c.save(true)
		}
		if isNoSpace(err) {
			// The journals take the last room. Without them an unclean
			// state has every piece checked again at the next Open, which
			// keeps the data; with them and no new state, the pieces
			// verified since the journal's last entry would be freed.
			removeOtherJournals(c.opts.StateFile, "")
			err = c.save(true)
		}
	}
	return errors.Join(err, c.files.close())
}

// Info returns the torrent geometry the cache was opened with.
func (c *Cache) Info() *metainfo.Info { return c.info }

// Have reports whether piece p is verified and readable right now.
func (c *Cache) Have(p int) bool {
	if p < 0 || p >= len(c.pieces) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pieces[p].state == stateVerified
}

// Unproven reports whether piece p has data on disk from before (a crash,
// files changed or found without a clean state) that has not been hashed
// again yet. Such a piece is not readable until Prove succeeds.
func (c *Cache) Unproven(p int) bool {
	if p < 0 || p >= len(c.pieces) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pieces[p].state == stateUnproven
}

// VerifiedBytes returns how many bytes of the torrent byte range
// [off, off+n) lie in verified pieces.
func (c *Cache) VerifiedBytes(off, n int64) int64 {
	if off < 0 {
		n += off
		off = 0
	}
	if off >= c.info.Length || n <= 0 {
		return 0
	}
	n = min(n, c.info.Length-off) // also keeps off+n from overflowing
	first, last := c.info.PieceRange(off, n)
	end := min(off+n, c.info.Length)
	var total int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := first; p <= last; p++ {
		if c.pieces[p].state != stateVerified {
			continue
		}
		ps := c.info.PieceOffset(p)
		pe := ps + c.info.PieceSize(p)
		total += min(pe, end) - max(ps, off)
	}
	return total
}

// Stats returns a snapshot of the cache's occupancy.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := Stats{
		Budget:    c.budgetLocked(),
		Used:      c.used,
		Verified:  c.verified,
		Unproven:  c.unproven,
		Evictions: c.evictions,
	}
	c.mu.Unlock()
	s.OpenFiles = c.files.openCount()
	return s
}
