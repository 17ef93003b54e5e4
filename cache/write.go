package cache

import (
	"fmt"
)

// WriteBlock writes data at offset off within piece p. The data is not
// readable until Verify(p) succeeds. The first write of a piece not
// reserved yet reserves room for it as Reserve does; when there is none
// it returns an error wrapping ErrBudget. A block for a piece that is
// already verified is ignored. On a write error the piece is dropped and
// must be downloaded again; a full disk (ENOSPC, EDQUOT) gives a
// *DiskFullError, matching ErrDiskFull, and lowers the budget to what
// the disk holds. Small in-order blocks may be held in memory and written with later ones, so the error can
// also come from a later WriteBlock or from Verify of the same piece.
// Writes of one piece are serialized; different pieces proceed in
// parallel.
func (c *Cache) WriteBlock(p int, off int64, data []byte) error {
	if p < 0 || p >= len(c.pieces) {
		return fmt.Errorf("cache: piece %d out of range (torrent has %d pieces)", p, len(c.pieces))
	}
	if off < 0 || off+int64(len(data)) > c.info.PieceSize(p) {
		return fmt.Errorf("cache: block [%d, %d) outside piece %d of %d bytes", off, off+int64(len(data)), p, c.info.PieceSize(p))
	}
	if len(data) == 0 {
		return nil
	}
	pt, err := c.startWrite(p)
	if pt == nil || err != nil {
		return err
	}
	pt.mu.Lock()
	err = c.writePartial(p, pt, off, data)
	pt.mu.Unlock()
	c.mu.Lock()
	c.pieces[p].writers--
	c.writing--
	if c.pieces[p].writers == 0 {
		c.changed.Broadcast()
	}
	c.mu.Unlock()
	if err != nil {
		c.log.Warn("cache: dropping piece after a write error", "piece", p, "err", err)
		c.drop(p, stateWriting)
		return fmt.Errorf("cache: writing piece %d: %w", p, c.diskFull(err))
	}
	return nil
}

// startWrite registers a write in flight on p, reserving p first if it is
// missing, and returns p's running hash. It returns nil when the
// block is to be ignored.
func (c *Cache) startWrite(p int) (*partial, error) {
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		pc := &c.pieces[p]
		switch pc.state {
		case stateWriting:
			if w := pc.punchWait; w > c.punchQ.done.Load() {
				// Reserved by another goroutine still waiting for
				// the holes over it.
				c.mu.Unlock()
				c.punchQ.wait(w)
				c.mu.Lock()
				continue
			}
			if n := len(pc.poolWaits); n > 0 {
				w := pc.poolWaits[n-1]
				if w.seq > w.q.done.Load() {
					c.mu.Unlock()
					w.q.wait(w.seq)
					c.mu.Lock()
					continue
				}
				pc.poolWaits = pc.poolWaits[:n-1]
				continue
			}
			pc.writers++
			c.writing++
			if pc.part == nil {
				pc.part = c.getPartial(p)
			}
			pt := pc.part
			c.mu.Unlock()
			return pt, nil
		case stateVerified:
			c.mu.Unlock()
			return nil, nil
		case stateUnproven:
			// New data replaces what was there; the charge carries over.
			c.unproven--
			c.lruRemove(p)
			pc.state = stateWriting
			c.dirty = true
		case stateVerifying, stateProving:
			c.changed.Wait()
		case stateMissing, stateDropping:
			c.mu.Unlock()
			c.journal.barrier(p)
			if err := c.reserve(p); err != nil {
				return nil, err
			}
			c.mu.Lock()
		}
	}
}

// Verify checks piece p against its SHA-1 once all its blocks are
// written. On success the piece becomes readable; on a mismatch the data
// is discarded, the reservation released, and Verify returns false.
func (c *Cache) Verify(p int) (bool, error) {
	if p < 0 || p >= len(c.pieces) {
		return false, fmt.Errorf("cache: piece %d out of range (torrent has %d pieces)", p, len(c.pieces))
	}
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return false, ErrClosed
		}
		pc := &c.pieces[p]
		switch pc.state {
		case stateWriting:
			if pc.writers > 0 {
				c.changed.Wait()
				continue
			}
			pc.state = stateVerifying
			pt := pc.part
			pc.part = nil
			c.mu.Unlock()
			return c.check(p, stateVerifying, pt)
		case stateVerified:
			c.mu.Unlock()
			return true, nil
		case stateUnproven:
			c.mu.Unlock()
			return c.Prove(p)
		case stateVerifying, stateProving, stateDropping:
			c.changed.Wait()
		case stateMissing:
			c.mu.Unlock()
			return false, fmt.Errorf("cache: piece %d has no data to verify", p)
		}
	}
}

// check hashes piece p, which the caller has put in the transient state
// from (verifying or proving), and makes it verified or drops it. Nothing
// else moves a piece out of those states. pt, if not nil, is the piece's
// running hash, which check consumes.
func (c *Cache) check(p int, from pieceState, pt *partial) (bool, error) {
	ok, err := c.hashPiece(p, pt)
	if pt != nil {
		c.putPartial(pt)
	}
	if err != nil || !ok {
		if err != nil {
			c.log.Warn("cache: dropping piece after an I/O error", "piece", p, "err", err)
		}
		c.drop(p, from)
		if err != nil {
			err = c.diskFull(err)
		}
		return false, err
	}
	c.mu.Lock()
	c.pieces[p].state = stateVerified
	c.verified++
	c.lruAdd(p)
	c.journal.verified(p)
	c.dirty = true
	c.changed.Broadcast()
	c.mu.Unlock()
	return true, nil
}

// Discard abandons a partially written piece p, releasing its reservation.
// It does nothing if p is not being written.
func (c *Cache) Discard(p int) {
	if p < 0 || p >= len(c.pieces) {
		return
	}
	c.mu.Lock()
	writing := c.pieces[p].state == stateWriting
	c.mu.Unlock()
	if writing {
		c.drop(p, stateWriting)
	}
}
