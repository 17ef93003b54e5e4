package fetch

import (
	"fmt"
	"time"

	"github.com/torfs/torfs/wire"
)

const (
	// maxOwed drops a peer with this many requests unanswered on the
	// wire: twice the reqq we advertise, so only a flood reaches it. It
	// bounds the rejects queued for a peer that does not read.
	maxOwed = 2 * maxUploadQueue
	// maxUploadBatch bounds the block bytes read for one write, and so
	// the output buffer of a peer whose socket is full.
	maxUploadBatch = 256 << 10
)

// onRequest queues a peer's block request, or rejects it. Called with t.mu
// held.
func (p *peer) onRequest(m *wire.Message) error {
	t := p.t
	r := request{m.Index, m.Begin, m.Length}
	if !t.validRequest(r) {
		return fmt.Errorf("request %d+%d/%d outside the torrent", r.index, r.begin, r.length)
	}
	p.lastReqAt = time.Now()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.owed++
	if p.owed > maxOwed {
		return errFlood
	}
	switch {
	case p.amChoking || t.c.cfg.NoUpload || t.state[r.index] != pieceHave:
		p.rejectLocked(r)
	case len(p.uploads) >= maxUploadQueue:
		// Beyond the reqq we advertised. A BEP 3 peer gets no answer
		// and still counts the request as outstanding, so it stays
		// owed: a peer that keeps ignoring reqq reaches maxOwed.
		if p.fast {
			p.rejectLocked(r)
		}
	default:
		p.uploads = append(p.uploads, r)
		p.signal()
	}
	return nil
}

// validRequest reports whether r names bytes of the torrent we may serve.
// Its numbers come from the peer: they are compared as 64-bit values, so
// no sum of them can wrap.
func (t *Torrent) validRequest(r request) bool {
	if uint64(r.index) >= uint64(len(t.state)) || r.length == 0 || r.length > maxRequestLen {
		return false
	}
	return uint64(r.begin)+uint64(r.length) <= uint64(t.info.PieceSize(int(r.index)))
}

type floodError struct{}

func (floodError) Error() string {
	return fmt.Sprintf("peer sent over %d requests without reading the answers", maxOwed)
}

var errFlood error = floodError{}

// rejectLocked answers a request we will not serve (BEP 6). Without the
// fast extension the request is silently dropped, as BEP 3 does, and no
// longer owed. Called with p.wmu held.
func (p *peer) rejectLocked(r request) {
	if !p.fast {
		p.owed--
		return
	}
	p.out = wire.AppendRequest(p.out, wire.Reject, r.index, r.begin, r.length)
	p.outAnswers++
	p.signal()
}

// onCancel withdraws a queued request; with the fast extension it is
// rejected, as BEP 6 asks, so the peer knows it is over.
func (p *peer) onCancel(m *wire.Message) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for i, r := range p.uploads {
		if r.index == m.Index && r.begin == m.Begin && r.length == m.Length {
			p.uploads = append(p.uploads[:i], p.uploads[i+1:]...)
			p.rejectLocked(r)
			return
		}
	}
}

// dropUploads discards queued requests when we choke the peer; with the
// fast extension each is rejected explicitly. Called with t.mu held.
func (p *peer) dropUploads() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.fast {
		for _, r := range p.uploads {
			p.out = wire.AppendRequest(p.out, wire.Reject, r.index, r.begin, r.length)
		}
		p.outAnswers += len(p.uploads)
	} else {
		p.owed -= len(p.uploads)
	}
	p.uploads = p.uploads[:0]
}

// appendBlocks reads the requested blocks from storage straight into the
// output buffer behind their headers. Blocks the storage no longer holds
// (evicted) are rejected.
func (p *peer) appendBlocks(out []byte, reqs []request) ([]byte, error) {
	t := p.t
	for _, r := range reqs {
		if err := t.c.up.wait(t.ctx, int(r.length)); err != nil {
			return out, err
		}
		n := int(r.length)
		start := len(out)
		out = wire.AppendPieceHeader(out, r.index, r.begin, n)
		hdr := len(out)
		out = grow(out, n)
		off := t.info.PieceOffset(int(r.index)) + int64(r.begin)
		if !t.st.Have(int(r.index)) {
			out = out[:start]
			out = p.appendReject(out, r)
			continue
		}
		if _, err := t.st.ReadAt(out[hdr:hdr+n], off); err != nil {
			// Usually the storage evicted the piece since the check.
			t.log.Debug("cannot upload a block", "piece", r.index, "err", err)
			out = p.appendReject(out[:start], r)
			continue
		}
		p.upBytes.Add(int64(n))
		t.uploaded.Add(int64(n))
	}
	return out, nil
}

func (p *peer) appendReject(out []byte, r request) []byte {
	if p.fast {
		out = wire.AppendRequest(out, wire.Reject, r.index, r.begin, r.length)
	}
	return out
}

// grow extends b by n bytes, reallocating when needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
