package fetch

import (
	"fmt"

	"github.com/torfs/torfs/wire"
)

// onRequest queues a peer's block request, or rejects it. Called with t.mu
// held.
func (p *peer) onRequest(m *wire.Message) error {
	t := p.t
	r := request{m.Index, m.Begin, m.Length}
	if int(r.index) >= len(t.state) {
		return fmt.Errorf("request for piece %d of %d", r.index, len(t.state))
	}
	size := t.info.PieceSize(int(r.index))
	if r.length == 0 || r.length > maxRequestLen || int64(r.begin)+int64(r.length) > size {
		return fmt.Errorf("request %d+%d/%d outside the piece", r.index, r.begin, r.length)
	}
	if p.amChoking || t.c.cfg.NoUpload || t.state[r.index] != pieceHave {
		p.reject(r)
		return nil
	}
	p.wmu.Lock()
	if len(p.uploads) >= maxUploadQueue {
		p.wmu.Unlock()
		p.reject(r)
		return nil
	}
	p.uploads = append(p.uploads, r)
	p.wmu.Unlock()
	p.signal()
	return nil
}

// reject answers a request we will not serve (BEP 6); without the fast
// extension the request is silently dropped, as BEP 3 does.
func (p *peer) reject(r request) {
	if p.fast {
		p.queue(func(b []byte) []byte { return wire.AppendRequest(b, wire.Reject, r.index, r.begin, r.length) })
	}
}

// onCancel withdraws a queued request.
func (p *peer) onCancel(m *wire.Message) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	for i, r := range p.uploads {
		if r.index == m.Index && r.begin == m.Begin && r.length == m.Length {
			p.uploads = append(p.uploads[:i], p.uploads[i+1:]...)
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
