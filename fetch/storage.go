package fetch

// Storage is where a Torrent keeps pieces: *cache.Cache implements it. All
// methods must be safe for concurrent use; the engine calls WriteBlock
// from its writer goroutines (the runs of one piece always from the same
// one, in the order they arrived) and Verify from its hashing workers.
type Storage interface {
	// Have reports whether piece p is verified and readable now. It turns
	// false when the storage evicts the piece, which it reports to the
	// OnEvict function.
	Have(p int) bool
	// Unproven reports data on disk from an earlier run that must be
	// hashed (Prove) before it counts.
	Unproven(p int) bool
	// Prove hashes what is on disk for p: true means p is now verified.
	Prove(p int) (bool, error)
	// Reserve makes room for piece p before its blocks are requested,
	// evicting what the storage's policy lets a piece of p's demand
	// (SetDemand) take. An error matching ErrStorageFull means there is
	// no room for it now; nil also when p is not missing. A reserved
	// piece no longer wanted is released with Discard.
	Reserve(p int) error
	// WriteBlock stores a block of piece p at offset off within the piece.
	// An error matching ErrStorageFull (all room taken by pieces in use)
	// is back-pressure: the engine retries later. One matching
	// ErrDiskFull means the disk is full and Capacity was lowered.
	WriteBlock(p int, off int64, data []byte) error
	// Verify checks a completely written piece against its hash; false
	// means the data was discarded. An error (a read, or a write the
	// storage held back from WriteBlock, failing: a full disk) means it
	// was discarded too.
	Verify(p int) (bool, error)
	// Discard abandons a partially written or reserved piece.
	Discard(p int)
	// ReadAt reads verified bytes of the torrent's byte space.
	ReadAt(b []byte, off int64) (int, error)
	// VerifiedBytes counts verified bytes within [off, off+n).
	VerifiedBytes(off, n int64) int64
	// Capacity is the most bytes of pieces the storage holds at once, 0
	// when it keeps every piece. The engine sizes readahead to it.
	Capacity() int64
	// SetDemand tells the storage what readers want, for its eviction:
	// the piece ranges [first, last] under reads in flight, each starting
	// at the piece its read needs next, the readahead windows, and
	// behind: the pieces below it are behind every reader.
	SetDemand(reads, windows [][2]int, behind int)
	// OnEvict registers the function the storage calls with each piece
	// it evicts, with none of its own locks held. The engine's function
	// never blocks, so the storage may call it from any of its methods.
	OnEvict(f func(piece int))
}

// SharedStorage is a Storage whose Capacity other torrents' storages
// share, such as the one budget of a mount over its torrents
// (*cache.Cache in a cache.Pool). OtherReaders counts the other torrents
// whose readers hold windows now: the readahead share of the capacity is
// divided among them all.
type SharedStorage interface {
	Storage
	OtherReaders() int
}

// ErrStorageFull is matched (errors.Is) by a Storage's error when its
// budget has no room for a piece now. A storage package that cannot
// import fetch makes its own error match by giving it a method
// Is(target error) bool that is true for a target with a method
// StorageFull() bool returning true, as ErrStorageFull has (package
// cache's ErrBudget does).
var ErrStorageFull error = storageFullError{}

type storageFullError struct{}

func (storageFullError) Error() string { return "storage full" }

// StorageFull marks ErrStorageFull for storages' errors to match.
func (storageFullError) StorageFull() bool { return true }

// MinCapacityPieces is the smallest budget, in pieces, a session accepts
// from a Storage that evicts: the piece a read needs next, one being
// fetched ahead, and room for others' reads.
const MinCapacityPieces = 4

// ErrDiskFull is matched (errors.Is) by a Storage's WriteBlock or Verify
// error when the disk under it refused a write for want of space. Unlike
// ErrStorageFull it is not back-pressure: the storage has lowered its
// Capacity to what the disk holds, and the session fails the reads that
// cannot fit in it instead of retrying. The error's text names the disk
// and the sizes. A storage package that cannot import fetch makes its
// own error match with a method Is(target error) bool that is true for
// a target with a method DiskFull() bool returning true, as ErrDiskFull
// has (package cache's DiskFullError does).
var ErrDiskFull error = diskFullError{}

type diskFullError struct{}

func (diskFullError) Error() string { return "cache disk full" }

// DiskFull marks ErrDiskFull for storages' errors to match.
func (diskFullError) DiskFull() bool { return true }
