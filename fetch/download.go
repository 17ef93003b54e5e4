package fetch

import (
	"hash/crc32"
	"time"

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

	sum := crc32.Checksum(m.Block, castagnoli)
	err := t.st.WriteBlock(i, int64(m.Begin), m.Block)

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active[i] != ap {
		return nil
	}
	if err != nil {
		bl.state = blockMissing
		ap.unrequested++
		// Most likely the storage budget is taken by pieces in use:
		// back off from new pieces for a moment instead of failing.
		if t.budgetUntil.Before(time.Now()) {
			t.log.Debug("storage refused a block; pausing new pieces", "piece", i, "err", err)
		}
		t.budgetUntil = time.Now().Add(500 * time.Millisecond)
		if ap.done == 0 && !ap.writing() {
			t.cancelPiece(i)
			t.deactivate(ap)
			t.state[i] = pieceMissing
			t.st.Discard(i)
		}
		return nil
	}
	bl.state = blockDone
	ap.senders[b], ap.sums[b] = p, sum
	if !p.rated && p.desired < maxPipeline {
		p.desired++ // slow start
	}
	ap.done++
	t.downloaded.Add(int64(n))
	if ap.done == len(ap.blocks) {
		t.deactivate(ap)
		t.state[i] = pieceHashing
		t.hashQ = append(t.hashQ, hashJob{piece: i, senders: ap.senders, sums: ap.sums})
		t.signalHash()
	}
	t.fill(p)
	return nil
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
