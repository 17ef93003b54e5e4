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
	// punchWait is the last hole of the cache's own punch queue that
	// must be punched before a byte of the piece is written: the last
	// queued over its blocks when it was reserved, or the one that
	// leaves the disk room for it within the budget. poolWaits are the
	// same for other members' queues (a pool's budget). Reserve only
	// records them: the first write waits, not the reservation, so the
	// engine never waits for fallocate while it picks pieces.
	punchWait uint64
	poolWaits []queueWait
}

// queueWait is a hole, by sequence number, of one punch queue.
type queueWait struct {
	q   *punchQueue
	seq uint64
}
