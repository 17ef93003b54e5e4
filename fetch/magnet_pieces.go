package fetch

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// These run on the resolver's loop.

// neverAgain, as a retry delay, bans the address for this Resolve.
const neverAgain = -1

// attach records a new connection.
func (r *resolver) attach(mc *metaConn) {
	r.conns[mc] = struct{}{}
	r.connected++
	if c := r.cands[mc.addr]; c != nil {
		c.state = candConnected
	}
}

// failed records a failed attempt to reach addr.
func (r *resolver) failed(addr netip.AddrPort, why string, self bool) {
	c := r.cands[addr]
	if c == nil {
		return
	}
	if self {
		c.state, c.banned = candGone, true
		return
	}
	r.lastErr = addr.String() + ": " + why
	r.retryLater(c, 2*time.Second<<min(c.fails, 4))
}

func (r *resolver) retryLater(c *resolveCand, wait time.Duration) {
	c.fails++
	c.next = time.Now().Add(wait)
	c.state = candIdle
	if c.fails >= maxResolveFails && !c.given {
		c.state = candGone
	}
}

// drop closes a connection for a reason; retry is when the address may
// be tried again, or neverAgain for a peer that lied.
func (r *resolver) drop(mc *metaConn, why string, retry time.Duration) {
	if mc.closing {
		return
	}
	mc.closing = true
	r.lastErr = mc.addr.String() + ": " + why
	r.c.log.Debug("metadata peer dropped", "peer", mc.addr, "reason", why)
	for i := range mc.reqs {
		delete(r.pending, i)
	}
	clear(mc.reqs)
	r.dropLayers(mc)
	if r.solo == mc {
		r.solo = nil
	}
	if c := r.cands[mc.addr]; c != nil {
		if retry == neverAgain {
			c.state, c.banned = candGone, true
		} else {
			r.retryLater(c, retry)
		}
	}
	mc.close()
}

// lost forgets a connection whose read loop ended.
func (r *resolver) lost(mc *metaConn, err error) {
	r.drop(mc, "connection lost: "+err.Error(), 5*time.Second)
	delete(r.conns, mc)
}

func (r *resolver) onExtHandshake(mc *metaConn, id, size int) {
	if mc.closing || r.layers != nil {
		return // only piece hashes are asked for now, of every peer
	}
	switch {
	case id == 0:
		r.drop(mc, "peer does not offer metadata (no ut_metadata in its extended handshake)", 30*time.Second)
		return
	case size == 0:
		// It may be resolving the same link: ask again later.
		r.drop(mc, "peer does not have the metadata yet", 10*time.Second)
		return
	case size > metainfo.MaxInfoSize:
		r.drop(mc, fmt.Sprintf("peer claims %d bytes of metadata, over the %d-byte limit", size, metainfo.MaxInfoSize), neverAgain)
		return
	}
	mc.metaID, mc.size = id, size
	r.withMeta++
	if r.size == 0 {
		r.setSize(size)
	}
}

// setSize starts fetching metadata of n bytes, forgetting pieces of any
// other size.
func (r *resolver) setSize(n int) {
	r.size = n
	np := (n + wire.MetadataPieceSize - 1) / wire.MetadataPieceSize
	r.pieces = make([][]byte, np)
	r.from = make([]*metaConn, np)
	r.pending = map[int]*metaConn{}
	for mc := range r.conns {
		clear(mc.reqs)
	}
}

func (r *resolver) pieceLen(i int) int {
	return min(wire.MetadataPieceSize, r.size-i*wire.MetadataPieceSize)
}

// usable reports whether we may ask mc for pieces now.
func (r *resolver) usable(mc *metaConn) bool {
	return !mc.closing && mc.metaID != 0 && mc.size == r.size
}

// request hands missing pieces to peers that have the metadata.
func (r *resolver) request() {
	if r.size == 0 || r.layers != nil {
		return
	}
	if !r.anyUsable() {
		r.switchSize()
	}
	if r.soloMode && r.solo == nil {
		for mc := range r.conns {
			if r.usable(mc) {
				r.solo = mc
				break
			}
		}
	}
	var peers []*metaConn
	for mc := range r.conns {
		if r.usable(mc) && (!r.soloMode || mc == r.solo) {
			peers = append(peers, mc)
		}
	}
	// One piece per peer per round, so the pieces spread over the peers.
	next, now := 0, time.Now()
	for more := true; more; {
		more = false
		for _, mc := range peers {
			if mc.closing || len(mc.reqs) >= metaPipeline {
				continue
			}
			for next < len(r.pieces) && (r.pieces[next] != nil || r.pending[next] != nil) {
				next++
			}
			if next == len(r.pieces) {
				return
			}
			body, err := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: next}, nil)
			if err != nil {
				r.fatal = err
				return
			}
			mc.reqs[next] = now
			r.pending[next] = mc
			mc.send(wire.AppendExtended(nil, uint8(mc.metaID), body))
			more = true
		}
	}
}

func (r *resolver) anyUsable() bool {
	for mc := range r.conns {
		if r.usable(mc) {
			return true
		}
	}
	return false
}

// switchSize moves to a size another connected peer claims, when no peer
// left claims the current one and nothing of it was received: the peer
// that set it lied or left.
func (r *resolver) switchSize() {
	for _, p := range r.pieces {
		if p != nil {
			return
		}
	}
	for mc := range r.conns {
		if !mc.closing && mc.metaID != 0 && mc.size != r.size {
			r.setSize(mc.size)
			return
		}
	}
}

func (r *resolver) onMetadata(mc *metaConn, msg wire.MetadataMsg, data []byte) {
	if mc.closing {
		return
	}
	switch msg.Type {
	case wire.MetadataRequest:
		// We have nothing to give: say so, as BEP 9 asks.
		if mc.metaID != 0 {
			if body, err := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataReject, Piece: msg.Piece}, nil); err == nil {
				mc.send(wire.AppendExtended(nil, uint8(mc.metaID), body))
			}
		}
		return
	case wire.MetadataReject:
		if _, asked := mc.reqs[msg.Piece]; asked {
			r.drop(mc, fmt.Sprintf("peer refused metadata piece %d", msg.Piece), 30*time.Second)
		}
		return
	}
	i := msg.Piece
	if _, asked := mc.reqs[i]; !asked {
		return // late, or never requested: ignore
	}
	delete(mc.reqs, i)
	delete(r.pending, i)
	switch {
	case msg.TotalSize != 0 && msg.TotalSize != r.size:
		r.drop(mc, fmt.Sprintf("peer sent a metadata piece saying the total is %d bytes, after claiming %d", msg.TotalSize, r.size), neverAgain)
		return
	case len(data) != r.pieceLen(i):
		r.drop(mc, fmt.Sprintf("peer sent metadata piece %d with %d bytes, want %d", i, len(data), r.pieceLen(i)), neverAgain)
		return
	}
	r.pieces[i], r.from[i] = data, mc
	for _, p := range r.pieces {
		if p == nil {
			return
		}
	}
	r.verify()
}

// verify checks the assembled metadata against the info-hash. On a
// mismatch a lone sender is banned; pieces from several senders cannot
// say who lied, so every piece is fetched again from one peer at a time.
func (r *resolver) verify() {
	buf := make([]byte, 0, r.size)
	senders := map[*metaConn]bool{}
	for i, p := range r.pieces {
		buf = append(buf, p...)
		senders[r.from[i]] = true
	}
	if r.m.Matches(buf) {
		mi, err := metainfo.FromInfo(buf, r.m)
		if err != nil {
			r.fatal = fmt.Errorf("the metadata of magnet link %s matches its info-hash but is not a valid torrent: %w", r.m.InfoHash, err)
			return
		}
		r.startLayers(mi)
		return
	}
	if len(senders) == 1 {
		for mc := range senders {
			r.drop(mc, "peer sent metadata that does not match the info-hash", neverAgain)
		}
	} else {
		r.soloMode = true
		r.lastErr = "metadata from several peers did not match the info-hash; fetching it from one peer at a time"
	}
	r.setSize(r.size)
}

// expire drops peers that leave requests unanswered.
func (r *resolver) expire() {
	now := time.Now()
	r.expireLayers(now)
	for mc := range r.conns {
		for _, sent := range mc.reqs {
			if now.Sub(sent) > metaRequestTimeout {
				r.drop(mc, "peer did not answer a metadata request", 30*time.Second)
				break
			}
		}
	}
}
