package fetch

import (
	"errors"
	"fmt"
)

// noteDiskFull records that the disk under the storage filled up: err,
// from WriteBlock or Verify, matches ErrDiskFull. The storage lowered its
// Capacity, so the session sizes readahead and reads to the new one, and
// wakes the reads waiting for pieces: those that can no longer fit fail
// (DiskFull, checkDiskFull) instead of waiting for pieces that cannot be
// stored. Called with t.mu held.
func (t *Torrent) noteDiskFull(err error) {
	if t.diskFull == nil || t.diskFull.Error() != err.Error() {
		t.log.Error("cache disk full", "err", err)
	}
	t.diskFull = err
	if c := t.st.Capacity(); c > 0 && t.info.PieceLength > 0 {
		t.capPieces = max(int(c/t.info.PieceLength), 1)
	}
	close(t.verified)
	t.verified = make(chan struct{})
	t.pushDemand()
	t.demandChanged()
}

// DiskFull returns the error of the last write the disk refused for want
// of space (it matches ErrDiskFull and names the disk and the sizes), or
// nil when the disk never filled up in this session. The session goes
// on within the storage's smaller Capacity; a download of the whole
// torrent cannot finish unless the disk holds it, so it should stop.
func (t *Torrent) DiskFull() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.diskFull
}

// checkDiskFull fails a read waiting for piece p once the disk filled
// up and the storage can no longer hold the piece each read in flight
// needs next. Called with t.mu held.
func (t *Torrent) checkDiskFull(p int) error {
	if t.diskFull == nil {
		return nil
	}
	if t.st.Capacity() < t.info.PieceSize(p) {
		return fmt.Errorf("cannot fetch piece %d: %w", p, t.diskFull)
	}
	if err := t.checkReads(); err != nil {
		return errors.Join(err, t.diskFull)
	}
	return nil
}
