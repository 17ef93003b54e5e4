package cache

// pieceState is where a piece is in its life. Transient states (writing,
// verifying, proving, dropping) pin the piece: it is charged to the budget
// and cannot be evicted.
type pieceState uint8

const (
	stateMissing   pieceState = iota // nothing held; not charged
	stateWriting                     // reserved, blocks being written
	stateVerifying                   // all blocks in, being hashed
	stateVerified                    // hashed, readable
	stateUnproven                    // data from before, not hashed yet
	stateProving                     // unproven data being hashed
	stateDropping                    // being dropped, waiting for writes in flight
)

// present reports whether the piece's data occupies disk space that must
// not be punched away.
func (s pieceState) present() bool { return s != stateMissing }

// piece is the cache's metadata for one piece, guarded by Cache.mu.
type piece struct {
	state   pieceState
	pins    int32 // ReadAt calls in progress
	writers int32 // WriteBlock calls in progress
	// part is the running hash of a piece being written; Verify takes
	// it over, drop gives it back.
	part *partial
	// punchWait is the last queued hole over the piece's blocks when it
	// was reserved: no byte of it is written before that is punched.
	punchWait uint64
}
