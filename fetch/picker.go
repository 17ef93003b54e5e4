package fetch

import (
	"time"

	"github.com/torfs/torfs/wire"
)

// Piece priorities, from readers' demands and the download-all switch.
const (
	prioNone = iota
	prioNormal
	prioReadahead
	prioUrgent
)

// block states within an active piece.
const (
	blockMissing uint8 = iota
	blockRequested
	blockWriting
	blockDone
)

// lateAfter is how long an urgent block may be outstanding before another
// peer is asked for it too.
const lateAfter = 2 * time.Second

// activePiece tracks the blocks of a piece being downloaded.
type activePiece struct {
	index       int
	size        int64
	blocks      []blockInfo
	unrequested int // blocks in state blockMissing
	done        int
	// Who sent each block and its CRC: when a failed piece later passes,
	// the blocks that differ name the peers that lied (smart ban).
	senders []*peer
	sums    []uint32
	// owner, when set, is a peer on parole that downloads this piece
	// alone, so that a hash failure names it alone.
	owner *peer
}

// usable reports whether p may request blocks of ap: a peer on parole
// only of the pieces it owns, other peers of pieces no paroled peer owns.
func (ap *activePiece) usable(p *peer) bool {
	if p.parole {
		return ap.owner == p || (ap.owner == nil && ap.onlyFrom(p))
	}
	return ap.owner == nil || ap.owner == p
}

// onlyFrom reports whether every block of ap that is stored or on its way
// comes from p, so that p may take the piece over while on parole.
func (ap *activePiece) onlyFrom(p *peer) bool {
	for b := range ap.blocks {
		bl := &ap.blocks[b]
		switch bl.state {
		case blockDone:
			if ap.senders[b] != p {
				return false
			}
		case blockRequested, blockWriting:
			if _, mine := p.reqs[blockKey(uint32(ap.index), uint32(b*wire.BlockSize))]; !mine || bl.reqs > 1 {
				return false
			}
		}
	}
	return true
}

type blockInfo struct {
	state uint8
	reqs  uint8 // peers it is requested from
	at    int64 // first request, unix nanos
}

func (ap *activePiece) blockLen(b int) int {
	return int(min(int64(wire.BlockSize), ap.size-int64(b)*wire.BlockSize))
}

// prio is piece i's priority. Called with t.mu held.
func (t *Torrent) prio(i int) int {
	best := prioNone
	if t.downloadAll && t.want(i) {
		best = prioNormal
	}
	for r := range t.readers {
		for _, u := range r.reads {
			if i >= u[0] && i <= u[1] {
				return prioUrgent
			}
		}
		if i >= r.ahead[0] && i <= r.ahead[1] {
			best = prioReadahead
		}
	}
	return best
}

// activate starts downloading piece i.
func (t *Torrent) activate(i int) *activePiece {
	size := t.info.PieceSize(i)
	nb := int((size + wire.BlockSize - 1) / wire.BlockSize)
	ap := &activePiece{
		index: i, size: size, blocks: make([]blockInfo, nb), unrequested: nb,
		senders: make([]*peer, nb), sums: make([]uint32, nb),
	}
	t.state[i] = pieceActive
	t.active[i] = ap
	t.activeList = append(t.activeList, ap)
	return ap
}

// deactivate forgets an active piece, e.g. when all its blocks are written
// or its data was lost.
func (t *Torrent) deactivate(ap *activePiece) {
	delete(t.active, ap.index)
	for k, q := range t.activeList {
		if q == ap {
			t.activeList = append(t.activeList[:k], t.activeList[k+1:]...)
			break
		}
	}
}

// fill tops up p's request pipeline: urgent, then readahead, then normal
// pieces; at each level partial pieces first, then new ones; at the end
// duplicates of late or last blocks. Called with t.mu held.
func (t *Torrent) fill(p *peer) {
	if p.peerChoking || !p.amInterested || p.gone {
		return
	}
	// One below the peer's limit: Transmission serves one request fewer
	// than its reqq and drops the last.
	limit := max(min(p.desired, p.reqq-1, maxPipeline), 1)
	want := limit - len(p.reqs)
	// Requests go out in batches: one write carries many.
	if want <= 0 || (len(p.reqs) > 0 && want < limit/8) {
		return
	}
	now := time.Now()
	nowNs := now.UnixNano()
	var out []byte
	add := func(ap *activePiece, b int) {
		bl := &ap.blocks[b]
		if bl.state == blockMissing {
			bl.state = blockRequested
			ap.unrequested--
			bl.at = nowNs
		}
		bl.reqs++
		begin := uint32(b * wire.BlockSize)
		key := blockKey(uint32(ap.index), begin)
		p.reqs[key] = p.sent.push(p.reqs, key)
		out = wire.AppendRequest(out, wire.Request, uint32(ap.index), begin, uint32(ap.blockLen(b)))
		want--
	}
	fromPiece := func(ap *activePiece) {
		if p.parole {
			ap.owner = p
		}
		for b := 0; b < len(ap.blocks) && want > 0 && ap.unrequested > 0; b++ {
			if ap.blocks[b].state == blockMissing {
				add(ap, b)
			}
		}
	}
	newAllowed := now.After(t.budgetUntil)
	for level := prioUrgent; level >= prioNormal && want > 0; level-- {
		for _, ap := range t.activeList {
			if want == 0 {
				break
			}
			if ap.unrequested > 0 && ap.usable(p) && p.has(ap.index) && t.prio(ap.index) == level {
				fromPiece(ap)
			}
		}
		for want > 0 && newAllowed {
			i := t.pickNew(p, level)
			if i < 0 && level == prioNormal && t.downloadAll {
				i = t.stealTail(p)
			}
			if i < 0 || !t.reserve(i, level) {
				break
			}
			fromPiece(t.activate(i))
		}
	}
	if want > 0 {
		endgame := t.endgame()
		late := nowNs - int64(lateAfter)
		// When no other peer has requests out, every block with a request
		// out is p's own: no need to look each up in p.reqs, which cost a
		// third of a mount's CPU streaming from one seeder.
		alone := true
		for q := range t.peers {
			if q != p && len(q.reqs) > 0 {
				alone = false
				break
			}
		}
		for _, ap := range t.activeList {
			if want == 0 {
				break
			}
			if !p.has(ap.index) || !ap.usable(p) {
				continue
			}
			// Outside the endgame only a read's pieces get duplicates;
			// whether ap is one is asked only once a block qualifies.
			dup := endgame
			asked := endgame
			for b := range ap.blocks {
				bl := &ap.blocks[b]
				if want == 0 {
					break
				}
				if bl.state != blockRequested || bl.reqs >= 2 || (!endgame && bl.at > late) {
					continue
				}
				if alone && bl.reqs > 0 {
					continue
				}
				if _, mine := p.reqs[blockKey(uint32(ap.index), uint32(b*wire.BlockSize))]; mine {
					continue
				}
				if !asked {
					dup, asked = t.prio(ap.index) == prioUrgent, true
				}
				if !dup {
					break
				}
				add(ap, b)
			}
		}
	}
	if len(out) > 0 {
		p.wmu.Lock()
		p.out = append(p.out, out...)
		p.wmu.Unlock()
		p.signal()
	} else if len(p.reqs) == 0 && !t.peerHasWanted(p) {
		t.setInterested(p, false)
	}
}

// pickNew chooses a piece p has that nobody downloads yet: at urgent and
// readahead level the lowest offset any reader demands, at normal level
// the rarest, ties broken at random. It returns -1 when there is none.
func (t *Torrent) pickNew(p *peer, level int) int {
	if level > prioNormal {
		best := -1
		try := func(rng [2]int) {
			for i := max(rng[0], 0); i <= rng[1] && (best < 0 || i < best); i++ {
				if t.state[i] == pieceMissing && p.has(i) && t.prio(i) == level {
					best = i
					return
				}
			}
		}
		for r := range t.readers {
			if level == prioUrgent {
				for _, u := range r.reads {
					try(u)
				}
			} else {
				try(r.ahead)
			}
		}
		return best
	}
	if !t.downloadAll {
		return -1
	}
	// Scanning from a random start breaks ties at random with one draw;
	// nothing is rarer than a piece no other peer has, so the scan stops
	// there.
	n := len(t.state)
	floor := int32(0) // the lowest availability possible
	if !p.seed {
		floor = 1 // p itself counts
	}
	best := -1
	var bestAvail int32
	start := t.rng.IntN(n)
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		if t.state[i] != pieceMissing || !p.has(i) || !t.want(i) {
			continue
		}
		if a := t.avail[i]; best < 0 || a < bestAvail {
			best, bestAvail = i, a
			if a <= floor {
				break
			}
		}
	}
	return best
}

// endgame reports whether every wanted piece is already being downloaded,
// so that duplicate requests cannot take blocks from untouched pieces.
func (t *Torrent) endgame() bool {
	if t.downloadAll {
		for i, s := range t.state {
			if s == pieceMissing && t.want(i) {
				return false
			}
		}
		return true
	}
	for r := range t.readers {
		if r.anyPiece(func(i int) bool { return t.state[i] == pieceMissing }) {
			return false
		}
	}
	return true
}

// peerHasWanted reports whether p has a piece we want and lack.
func (t *Torrent) peerHasWanted(p *peer) bool {
	if t.downloadAll {
		if p.seed {
			return !t.wantedHeld()
		}
		for i, s := range t.state {
			if s != pieceHave && p.bits.Has(i) && t.want(i) {
				return true
			}
		}
		return false
	}
	for r := range t.readers {
		if r.anyPiece(func(i int) bool { return t.state[i] != pieceHave && p.has(i) }) {
			return true
		}
	}
	return false
}

// updateInterest tells p whether we are interested, and requests if so.
func (t *Torrent) updateInterest(p *peer) {
	t.setInterested(p, t.peerHasWanted(p))
	t.fill(p)
}

func (t *Torrent) setInterested(p *peer, on bool) {
	if p.amInterested == on {
		return
	}
	p.amInterested = on
	id := wire.NotInterested
	if on {
		id = wire.Interested
	}
	p.queue(func(b []byte) []byte { return wire.AppendSimple(b, id) })
}

// demandChanged re-evaluates every peer after readers moved or the
// download-all switch changed.
func (t *Torrent) demandChanged() {
	for p := range t.peers {
		t.updateInterest(p)
	}
	t.wakeWebSeeds()
}

// returnRequests puts every block outstanding at p back for others.
func (t *Torrent) returnRequests(p *peer) {
	for key := range p.reqs {
		t.unrequest(key)
	}
	clear(p.reqs)
	p.sent.reset()
}

// unrequest drops one request of a block; the block becomes missing
// again when nobody else has it requested.
func (t *Torrent) unrequest(key uint64) {
	ap := t.active[int(key>>32)]
	if ap == nil {
		return
	}
	b := int(uint32(key) / wire.BlockSize)
	if b >= len(ap.blocks) {
		return
	}
	bl := &ap.blocks[b]
	if bl.reqs > 0 {
		bl.reqs--
	}
	if bl.reqs == 0 && bl.state == blockRequested {
		bl.state = blockMissing
		ap.unrequested++
	}
}

func (t *Torrent) onReject(p *peer, m *wire.Message) {
	key := blockKey(m.Index, m.Begin)
	if _, ok := p.reqs[key]; !ok {
		return
	}
	delete(p.reqs, key)
	t.unrequest(key)
	t.rejected++
	// Asking the same peer again at once would loop; others may serve it.
	t.fillOthers(p)
}

// giveUpSkipped withdraws requests p skipped (requests.go): the blocks go
// back to the picker, and other peers may take them before p asks again.
// A cancel goes to p for each, in case it still holds the request: its
// room in p's queue is then free for the next.
func (t *Torrent) giveUpSkipped(p *peer, keys []uint64) {
	var out []byte
	for _, key := range keys {
		delete(p.reqs, key)
		t.unrequest(key)
		i, begin := uint32(key>>32), uint32(key)
		n := min(int64(wire.BlockSize), t.info.PieceSize(int(i))-int64(begin))
		out = wire.AppendRequest(out, wire.Cancel, i, begin, uint32(n))
	}
	p.queue(func(b []byte) []byte { return append(b, out...) })
	t.skipped += len(keys)
	t.log.Debug("peer skipped requests; asking again", "peer", p.addr, "blocks", len(keys))
	t.fillOthers(p)
}

// fillOthers tops up the pipelines of every peer but p.
func (t *Torrent) fillOthers(p *peer) {
	for q := range t.peers {
		if q != p {
			t.fill(q)
		}
	}
}

// cancelPiece withdraws every request for piece i, e.g. before forgetting
// an active piece whose storage failed.
func (t *Torrent) cancelPiece(i int) {
	for q := range t.peers {
		for key := range q.reqs {
			if int(key>>32) == i {
				delete(q.reqs, key)
				begin := uint32(key)
				ln := uint32(min(int64(wire.BlockSize), t.info.PieceSize(i)-int64(begin)))
				q.queue(func(b []byte) []byte { return wire.AppendRequest(b, wire.Cancel, uint32(i), begin, ln) })
			}
		}
	}
}
