package fetch

import (
	"errors"
	"hash/crc32"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/wire"
)

// onPiece stores a received block. The write to storage happens outside
// the torrent's lock so that connections write in parallel; the block is
// marked as being written meanwhile so nobody else stores it.
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
	_, asked := p.reqs[key]
	if asked {
		delete(p.reqs, key)
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
	t.mu.Unlock()

	w := &p.pending
	if w.ap != nil && (w.ap != ap || int64(m.Begin) != w.begin+int64(len(w.buf)) || len(w.buf)+n > maxCoalesce) {
		p.flushWrites()
	}
	if w.ap == nil {
		if w.buf == nil {
			w.buf = make([]byte, 0, maxCoalesce)
		}
		w.ap, w.begin, w.first = ap, int64(m.Begin), b
	}
	if w.holds(m.Block) {
		w.buf = w.buf[:len(w.buf)+n] // decoded in place: no copy
	} else {
		w.buf = append(w.buf, m.Block...)
	}
	w.sums = append(w.sums, crc32.Checksum(m.Block, castagnoli))
	if w.begin+int64(len(w.buf)) == ap.size {
		p.flushWrites() // the piece may be complete: hash it now
	}
	return nil
}

// writerState stores received blocks for the torrent's connections.
type writerState struct{}

// startWriter starts what stores received blocks.
func (t *Torrent) startWriter() {}

// maxCoalesce bounds the contiguous blocks a connection gathers into one
// storage write: one system call (and one extent update on a
// preallocated file) per 16 blocks instead of per block.
const maxCoalesce = 16 * wire.BlockSize

// pendingWrite is a run of contiguous blocks of one piece, received on one
// connection and not yet stored. Its blocks are in state blockWriting, so
// nobody else stores them meanwhile. It belongs to the read goroutine.
type pendingWrite struct {
	ap    *activePiece
	begin int64 // offset within the piece of buf[0]
	first int   // index of the first block
	buf   []byte
	sums  []uint32
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

// flushWrites stores the pending blocks and records them as done. The
// read loop calls it when nothing more is buffered on the socket, so
// blocks never wait for data that is not coming.
func (p *peer) flushWrites() {
	t := p.t
	w := &p.pending
	if w.ap == nil {
		return
	}
	ap, i := w.ap, w.ap.index
	t.mu.Lock()
	live := t.active[i] == ap
	t.mu.Unlock()
	var err error
	if live {
		err = t.st.WriteBlock(i, w.begin, w.buf)
	}
	t.mu.Lock()
	if t.active[i] == ap {
		if err != nil {
			// Most likely the storage budget is taken by pieces in use:
			// back off from new pieces for a moment instead of failing.
			// The storage may have dropped the piece's other blocks, so
			// it starts over.
			switch {
			case !t.budgetUntil.Before(time.Now()):
			case errors.Is(err, cache.ErrBudget):
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
		} else {
			for k, sum := range w.sums {
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
		}
		t.fill(p)
	}
	t.mu.Unlock()
	w.ap = nil
	w.buf = w.buf[:0]
	w.sums = w.sums[:0]
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
