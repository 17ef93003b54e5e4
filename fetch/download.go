package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/wire"
)

// onPiece takes in a received block: it joins the connection's run of
// contiguous blocks, which flushWrites hands to the torrent's writer. The
// block is marked as being written meanwhile so nobody else stores it.
// Waiting for a free run buffer is the back-pressure on the socket when
// storage falls behind.
func (p *peer) onPiece(m *wire.Message) error {
	t := p.t
	n := len(m.Block)
	if err := t.c.down.wait(t.ctx, n); err != nil {
		return err
	}
	p.downBytes.Add(int64(n))
	i := int(m.Index)
	key := blockKey(m.Index, m.Begin)

	t.mu.Lock()
	seq, asked := p.reqs[key]
	if asked {
		delete(p.reqs, key)
		if lost := p.sent.answered(p.reqs, seq, time.Now().UnixNano(), nil); len(lost) > 0 {
			t.giveUpSkipped(p, lost)
		}
	}
	ap := t.active[i]
	b := int(m.Begin / wire.BlockSize)
	if ap == nil || m.Begin%wire.BlockSize != 0 || b >= len(ap.blocks) || ap.blockLen(b) != n {
		// Late duplicate, cancelled block, or garbage.
		t.wasted.Add(int64(n))
		t.fill(p)
		t.mu.Unlock()
		return nil
	}
	bl := &ap.blocks[b]
	if asked && bl.reqs > 0 {
		bl.reqs--
	}
	if bl.state == blockMissing {
		// We gave up on the request (choke, snub) but the data came:
		// it is as good as any.
		bl.state = blockRequested
		ap.unrequested--
	}
	if bl.state != blockRequested {
		// Another peer delivered it first.
		t.wasted.Add(int64(n))
		t.fill(p)
		t.mu.Unlock()
		return nil
	}
	bl.state = blockWriting
	p.lastBlock = time.Now()
	p.snubs = 0
	if bl.reqs > 0 {
		// Endgame or a late block: others have it requested too.
		for q := range t.peers {
			if _, ok := q.reqs[key]; ok && q != p {
				delete(q.reqs, key)
				q.queue(func(b []byte) []byte { return wire.AppendRequest(b, wire.Cancel, m.Index, m.Begin, uint32(n)) })
			}
		}
		bl.reqs = 0
	}
	// Ask for more now, not once the block is stored: the requests in
	// flight then stay as deep as the network needs while blocks wait
	// for the writer, which waiting for a buffer bounds on its own.
	t.fill(p)
	t.mu.Unlock()

	w := &p.pending
	if w.ap != nil && (w.ap != ap || int64(m.Begin) != w.begin+int64(len(w.buf)) || len(w.buf)+n > maxCoalesce) {
		if w.holds(m.Block) {
			// Decoded into the run's spare room, but the piece started
			// over since (a new activePiece): the buffer goes to the
			// writer, and back to the pool, without the block.
			m.Block = bytes.Clone(m.Block)
		}
		p.flushWrites()
	}
	if w.ap == nil {
		buf, err := t.writer.getBuf(t.ctx)
		if err != nil {
			return err // closing: the block's state no longer matters
		}
		w.ap, w.begin, w.first, w.buf, w.n = ap, int64(m.Begin), b, buf, 0
	}
	if w.holds(m.Block) {
		w.buf = w.buf[:len(w.buf)+n] // decoded in place: no copy
	} else {
		w.buf = append(w.buf, m.Block...)
	}
	w.sums[w.n] = crc32.Checksum(m.Block, castagnoli)
	w.n++
	if w.begin+int64(len(w.buf)) == ap.size {
		p.flushWrites() // the piece may be complete: hash it now
	}
	return nil
}

// maxCoalesce bounds the contiguous blocks a connection gathers into one
// storage write: one system call (and one extent update on a
// preallocated file) per 16 blocks instead of per block.
const maxCoalesce = 16 * wire.BlockSize

// pendingWrite is a run of contiguous blocks of one piece, received on one
// connection and not yet stored. Its blocks are in state blockWriting, so
// nobody else stores them meanwhile. It belongs to the read goroutine
// until flushWrites hands it to the torrent's writer. buf is one of the
// writer's buffers, held only while ap is set.
type pendingWrite struct {
	ap    *activePiece
	begin int64 // offset within the piece of buf[0]
	first int   // index of the first block
	buf   []byte
	n     int // blocks in buf
	sums  [maxCoalesce / wire.BlockSize]uint32
}

// next offers the spare room after the run as the destination of the next
// block, when that block continues the run: the decoder then reads it from
// the socket buffer straight to where it will be written from.
func (w *pendingWrite) next(index, begin uint32, n int) []byte {
	if w.ap == nil || w.ap.index != int(index) || w.begin+int64(len(w.buf)) != int64(begin) || len(w.buf)+n > cap(w.buf) {
		return nil
	}
	return w.buf[len(w.buf) : len(w.buf)+n]
}

// holds reports whether b is the spare room next offered.
func (w *pendingWrite) holds(b []byte) bool {
	return len(b) > 0 && len(w.buf) < cap(w.buf) && &w.buf[:len(w.buf)+1][len(w.buf)] == &b[0]
}

// flushWrites hands the pending blocks to the torrent's writer, which
// stores them and records them as done. The read loop calls it when
// nothing more is buffered on the socket, so blocks never wait for data
// that is not coming. It never blocks: the run already holds one of the
// writer's buffers, and the writer's queues have room for all of them.
func (p *peer) flushWrites() {
	w := &p.pending
	if w.ap == nil {
		return
	}
	p.t.writer.submit(writeJob{p: p, w: *w})
	*w = pendingWrite{}
}

// castagnoli is the CRC the CPU computes in hardware: block checksums for
// the smart ban cost almost nothing.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (ap *activePiece) writing() bool {
	for _, bl := range ap.blocks {
		if bl.state == blockWriting {
			return true
		}
	}
	return false
}

// writeBuffers bounds the runs received and not yet stored, per torrent
// (8 MiB): a connection that needs a buffer while all of them are queued
// waits, and stops reading its socket, until the writers catch up.
const writeBuffers = 32

// writeShards is how many goroutines store blocks. A piece always goes to
// the same one, so its runs are stored in the order they arrived and the
// storage hashes them as they come; two let one piece be stored while
// another is, on the second core.
const writeShards = 2

// writerState stores received blocks off the connections' read
// goroutines: storing a run (a pwrite, and the storage hashing it) costs
// about as much CPU as receiving it, and on the read goroutine it would
// leave the socket unread meanwhile.
type writerState struct {
	free   chan []byte // buffers not in use
	made   atomic.Int32
	shards [writeShards]chan writeJob
}

// writeJob is a run of blocks on its way to storage.
type writeJob struct {
	p *peer // the connection the blocks came from
	w pendingWrite
}

// startWriter starts the goroutines that store received blocks.
func (t *Torrent) startWriter() {
	w := &t.writer
	w.free = make(chan []byte, writeBuffers)
	for i := range w.shards {
		w.shards[i] = make(chan writeJob, writeBuffers)
		t.wg.Add(1)
		go t.writeLoop(w.shards[i])
	}
}

// getBuf returns an empty buffer for a run, waiting while all of them
// are queued.
func (w *writerState) getBuf(ctx context.Context) ([]byte, error) {
	select {
	case b := <-w.free:
		return b, nil
	default:
	}
	if w.made.Add(1) <= writeBuffers {
		return make([]byte, 0, maxCoalesce), nil
	}
	w.made.Add(-1)
	select {
	case b := <-w.free:
		return b, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to store received blocks: %w", ctx.Err())
	}
}

// submit queues a run for its piece's writer. Every queue has room for
// every buffer, so it never waits.
func (w *writerState) submit(j writeJob) {
	w.shards[j.w.ap.index%writeShards] <- j
}

// writeLoop stores the runs of one shard until the torrent closes; runs
// still queued then go with it.
func (t *Torrent) writeLoop(jobs <-chan writeJob) {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case j := <-jobs:
			t.store(&j)
			t.writer.free <- j.w.buf[:0] // room for every buffer made
		}
	}
}

// store writes a run and records its blocks as done, or starts the piece
// over when the storage refuses it.
func (t *Torrent) store(j *writeJob) {
	p, w := j.p, &j.w
	ap, i := w.ap, w.ap.index
	t.mu.Lock()
	live := t.active[i] == ap
	t.mu.Unlock()
	var err error
	if live {
		err = t.st.WriteBlock(i, w.begin, w.buf)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active[i] != ap {
		return
	}
	if err != nil {
		// Most likely the storage budget is taken by pieces in use:
		// back off from new pieces for a moment instead of failing.
		// The storage may have dropped the piece's other blocks, so
		// it starts over.
		switch {
		case errors.Is(err, ErrDiskFull):
			t.noteDiskFull(err)
		case !t.budgetUntil.Before(time.Now()):
		case errors.Is(err, ErrStorageFull):
			t.log.Debug("storage refused a block; pausing new pieces", "piece", i, "err", err)
		default:
			// Disk full or an I/O error: the user must hear of it.
			t.log.Error("could not store a block; the piece will be downloaded again", "piece", i, "err", err)
		}
		t.budgetUntil = time.Now().Add(500 * time.Millisecond)
		t.cancelPiece(i)
		t.deactivate(ap)
		t.state[i] = pieceMissing
		t.st.Discard(i)
		t.reapAbandoned()
		t.fill(p)
		return
	}
	for k, sum := range w.sums[:w.n] {
		b := w.first + k
		ap.blocks[b].state = blockDone
		ap.senders[b], ap.sums[b] = p, sum
		ap.done++
		if !p.rated && p.desired < maxPipeline {
			p.desired++ // slow start
		}
	}
	t.downloaded.Add(int64(len(w.buf)))
	if ap.done == len(ap.blocks) {
		t.deactivate(ap)
		t.state[i] = pieceHashing
		t.hashQ = append(t.hashQ, hashJob{piece: i, senders: ap.senders, sums: ap.sums})
		t.signalHash()
	}
	t.fill(p)
}
