package fetch

import (
	"fmt"
	"net/netip"

	"github.com/torfs/torfs/wire"
)

// handle acts on one message from the peer. An error drops the peer.
func (p *peer) handle(m *wire.Message) error {
	t := p.t
	switch m.ID {
	case wire.Piece:
		return p.onPiece(m)
	case wire.Port:
		p.onPort(m)
		return nil
	case wire.KeepAlive, wire.Suggest, wire.AllowedFast:
		return nil
	case wire.Cancel:
		p.onCancel(m)
		return nil
	case wire.Extended:
		return p.onExtended(m)
	case wire.HashRequest:
		p.onHashRequest(m)
		return nil
	case wire.Hashes, wire.HashReject:
		// A session asks for no hashes: Resolve and ResolveLayers
		// fetched them before it started.
		return nil
	}
	n := len(t.state)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
		if !p.fast {
			// BEP 3: a choke discards our requests. With the fast
			// extension each one is rejected explicitly instead.
			t.returnRequests(p)
		}
	case wire.Unchoke:
		p.peerChoking = false
		t.fill(p)
	case wire.Interested:
		p.peerInterested = true
		t.maybeUnchoke(p)
	case wire.NotInterested:
		p.peerInterested = false
		if !p.amChoking {
			t.choke(p)
			t.rechoke(false)
		}
	case wire.Have:
		i := int(m.Index)
		if i >= n {
			return fmt.Errorf("have for piece %d of %d", i, n)
		}
		p.addHave(i)
		if t.state[i] != pieceHave && t.prio(i) > prioNone {
			t.setInterested(p, true)
		}
		t.fill(p)
	case wire.Bitfield:
		bits := wire.Bits(m.Payload)
		if !bits.Valid(n) {
			return fmt.Errorf("bitfield of %d bytes for %d pieces", len(m.Payload), n)
		}
		// BEP 3 puts the bitfield first, but some clients (aria2) send
		// it after have messages: what both said is what the peer has.
		for i := range n {
			if bits.Has(i) {
				p.addHave(i)
			}
		}
		t.updateInterest(p)
	case wire.HaveAll:
		t.becomeSeed(p)
		t.updateInterest(p)
	case wire.HaveNone:
		// Only ever news when it comes first: after have messages or a
		// bitfield it is stale, and pieces are never lost.
	case wire.Request:
		return p.onRequest(m)
	case wire.Reject:
		t.onReject(p, m)
	}
	return nil
}

// has reports whether the peer has piece i. Called with t.mu held.
func (p *peer) has(i int) bool { return p.seed || p.bits.Has(i) }

// addHave records that the peer has piece i, counting it once in the
// piece's availability. Called with t.mu held.
func (p *peer) addHave(i int) {
	if p.seed || p.bits.Has(i) {
		return
	}
	t := p.t
	p.bits.Set(i)
	p.numHave++
	t.avail[i]++
	if p.numHave == len(t.state) {
		t.becomeSeed(p)
	}
}

// becomeSeed moves a peer that has everything out of the per-piece
// availability counts: seeds make every piece equally available.
func (t *Torrent) becomeSeed(p *peer) {
	if p.seed {
		return
	}
	for i := range t.avail {
		if p.bits.Has(i) {
			t.avail[i]--
		}
	}
	p.seed = true
	t.seeds++
}

func (p *peer) onExtended(m *wire.Message) error {
	switch m.ExtID {
	case 0:
	case extMetadataID:
		return p.onMetadata(m.Payload)
	case extPEXID:
		return p.onPEX(m.Payload)
	default:
		return nil // not an extension we announced
	}
	h, err := wire.ParseExtendedHandshake(m.Payload)
	if err != nil {
		return err
	}
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if h.Reqq > 0 {
		p.reqq = min(h.Reqq, maxPipeline)
	}
	p.metadataID = h.M[wire.ExtMetadata]
	p.prefersEnc = h.E > 0
	if t.pexEnabled() {
		p.pex.id = h.M[wire.ExtPEX]
		t.noteSelfIP(h.YourIP)
	}
	if h.P > 0 && h.P <= 0xffff && !p.dialed.IsValid() {
		if a, ok := addrPort(p.conn.RemoteAddr()); ok {
			p.listenAddr = netip.AddrPortFrom(a.Addr(), uint16(h.P))
			if cand := t.candidates[p.listenAddr]; cand != nil {
				cand.connected = true
			}
		}
	}
	if p.prefersEnc {
		for _, a := range []netip.AddrPort{p.dialed, p.listenAddr} {
			if cand := t.candidates[a]; cand != nil && a.IsValid() {
				cand.pexFlags |= wire.PEXEncryption
			}
		}
	}
	return nil
}
