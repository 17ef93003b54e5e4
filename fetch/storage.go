package fetch

// Storage is where a Torrent keeps pieces: *cache.Cache implements it. All
// methods must be safe for concurrent use; the engine calls WriteBlock
// from its writer goroutines (the runs of one piece always from the same
// one, in the order they arrived) and Verify from its hashing workers.
type Storage interface {
	// Have reports whether piece p is verified and readable now. It may
	// turn false when the storage evicts the piece.
	Have(p int) bool
	// Unproven reports data on disk from an earlier run that must be
	// hashed (Prove) before it counts.
	Unproven(p int) bool
	// Prove hashes what is on disk for p: true means p is now verified.
	Prove(p int) (bool, error)
	// WriteBlock stores a block of piece p at offset off within the piece.
	// An error wrapping a budget condition (all room taken by pieces in
	// use) is back-pressure: the engine retries later.
	WriteBlock(p int, off int64, data []byte) error
	// Verify checks a completely written piece against its hash; false
	// means the data was discarded. An error (a read, or a write the
	// storage held back from WriteBlock, failing: a full disk) means it
	// was discarded too.
	Verify(p int) (bool, error)
	// Discard abandons a partially written piece.
	Discard(p int)
	// ReadAt reads verified bytes of the torrent's byte space.
	ReadAt(b []byte, off int64) (int, error)
	// VerifiedBytes counts verified bytes within [off, off+n).
	VerifiedBytes(off, n int64) int64
}
