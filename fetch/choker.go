package fetch

import (
	"cmp"
	"slices"
	"time"

	"github.com/torfs/torfs/wire"
)

const (
	// unchokeSlots is how many peers get uploads by rate (tit-for-tat).
	unchokeSlots = 4
	chokeEvery   = 10 * time.Second
	// optimisticEvery rotates the extra slot that lets new peers prove
	// themselves.
	optimisticEvery = 30 * time.Second
)

// rechoke unchokes the interested peers that serve us fastest (when
// seeding: that we serve fastest) plus one optimistic unchoke, and chokes
// the rest. Peers that waste a slot (wastesSlot) come last, so they lose
// their slots to any peer that waits for one; among equals, peers that
// wasted slots before come after those not yet tried, and newer peers
// first. Called with t.mu held.
func (t *Torrent) rechoke(rotate bool) {
	now := time.Now()
	var cands []*peer
	waste := map[*peer]bool{}
	for p := range t.peers {
		if p.peerInterested && !p.gone {
			cands = append(cands, p)
			waste[p] = p.wastesSlot(now)
		}
	}
	seeding := t.seeding()
	slices.SortFunc(cands, func(a, b *peer) int {
		if waste[a] != waste[b] {
			if waste[a] {
				return 1
			}
			return -1
		}
		if seeding {
			if c := cmp.Compare(b.upRate, a.upRate); c != 0 {
				return c
			}
		} else {
			if c := cmp.Compare(b.downRate, a.downRate); c != 0 {
				return c
			}
			if c := cmp.Compare(b.upRate, a.upRate); c != 0 {
				return c
			}
		}
		if c := cmp.Compare(a.slotLosses, b.slotLosses); c != 0 {
			return c
		}
		// Newer peers first, as BitTorrent's choker favours them: they
		// have nothing to trade yet, and a peer that joins a swarm full
		// of stuck ones is found at once.
		return b.connectedAt.Compare(a.connectedAt)
	})
	keep := map[*peer]bool{}
	for _, p := range cands[:min(len(cands), unchokeSlots)] {
		keep[p] = true
	}
	opt := t.optimistic
	if rotate || opt == nil || opt.gone || !opt.peerInterested || keep[opt] || waste[opt] {
		opt = nil
		if len(cands) > unchokeSlots {
			opt = t.pickOptimistic(cands[unchokeSlots:], waste)
		}
		t.optimistic = opt
	}
	if opt != nil {
		keep[opt] = true
	}
	for p := range t.peers {
		switch {
		case keep[p] && p.amChoking:
			t.unchoke(p)
		case !keep[p] && !p.amChoking:
			if waste[p] {
				p.slotLosses++
			}
			t.choke(p)
		}
	}
}

// pickOptimistic chooses the optimistic unchoke among rest at random,
// preferring peers that use a slot and have wasted the fewest before.
// Called with t.mu held.
func (t *Torrent) pickOptimistic(rest []*peer, waste map[*peer]bool) *peer {
	var pool []*peer
	for _, p := range rest {
		switch {
		case waste[p]:
		case len(pool) == 0 || p.slotLosses < pool[0].slotLosses:
			pool = append(pool[:0], p)
		case p.slotLosses == pool[0].slotLosses:
			pool = append(pool, p)
		}
	}
	if len(pool) == 0 {
		pool = rest
	}
	return pool[t.rng.IntN(len(pool))]
}

// wastesSlot reports whether the peer holds, or would hold, an upload
// slot without using it: what we send it stopped draining (it does not
// read its socket), or it has been unchoked a while without asking for
// anything. Called with t.mu held.
func (p *peer) wastesSlot(now time.Time) bool {
	if p.writeStalled(now) {
		return true
	}
	if p.amChoking {
		// Its socket may still hold what it did not read while it
		// had a slot: the burst that filled its buffers must not rank
		// it above a newcomer. (An unchoked peer that reads slowly
		// keeps a queue between writes: not checked here.)
		return p.unread(now)
	}
	if !p.peerInterested {
		return false
	}
	idle := p.t.c.cfg.idleSlotAfter
	if now.Sub(p.unchokedAt) < idle || now.Sub(p.lastUpAt) < idle || now.Sub(p.lastReqAt) < idle ||
		p.writingSince.Load() != 0 {
		return false
	}
	p.wmu.Lock()
	queued := len(p.uploads)
	p.wmu.Unlock()
	return queued == 0
}

// slotWasted reports whether an unchoked peer wastes its slot while
// another interested peer waits for one: the choker should not wait for
// its next round. Called with t.mu held.
func (t *Torrent) slotWasted(now time.Time) bool {
	wasted, waiting := false, false
	for p := range t.peers {
		if !p.peerInterested || p.gone {
			continue
		}
		if p.amChoking {
			waiting = waiting || !p.wastesSlot(now)
		} else {
			wasted = wasted || p.wastesSlot(now)
		}
	}
	return wasted && waiting
}

// maybeUnchoke unchokes a newly interested peer at once when a slot is
// free, or when it ranks above a holder, rather than making it wait for
// the next round. A slot held by a peer that wastes it counts as free.
func (t *Torrent) maybeUnchoke(p *peer) {
	if !p.amChoking {
		return
	}
	n, now := 0, time.Now()
	for q := range t.peers {
		if !q.amChoking && !q.wastesSlot(now) {
			n++
		}
	}
	if n < unchokeSlots+1 {
		t.unchoke(p)
		return
	}
	// Every slot is in use, or not yet known to be wasted: the newcomer
	// takes one if it ranks above a holder (new peers do, against
	// holders that have not shown a rate yet), or waits until a holder
	// could be found wasting it.
	t.rechoke(false)
	if p.amChoking {
		t.recheckAt(t.nextWaste(now))
	}
}

// chokerState schedules the re-check that gives a waiting peer the slot
// of one found wasting it, rather than at the next round or tick.
type chokerState struct {
	recheck   *time.Timer
	recheckAt time.Time // when recheck fires; zero when not armed
}

// nextWaste returns the earliest time an unchoked peer that uses its slot
// now could be found wasting it; zero when none could. Called with t.mu
// held.
func (t *Torrent) nextWaste(now time.Time) time.Time {
	var next time.Time
	for q := range t.peers {
		if q.amChoking || !q.peerInterested || q.gone || q.wastesSlot(now) {
			continue
		}
		var at time.Time
		if since := q.writingSince.Load(); since != 0 {
			at = time.Unix(0, since).Add(q.stallLimit())
		} else {
			at = q.unchokedAt
			for _, u := range []time.Time{q.lastUpAt, q.lastReqAt} {
				if u.After(at) {
					at = u
				}
			}
			at = at.Add(t.c.cfg.idleSlotAfter)
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// recheckAt arms the re-check for at, unless one comes sooner. Called with
// t.mu held.
func (t *Torrent) recheckAt(at time.Time) {
	cs := &t.choker
	if at.IsZero() || (!cs.recheckAt.IsZero() && !cs.recheckAt.After(at)) {
		return
	}
	// A little late, so the peer is past the threshold when checked.
	d := time.Until(at) + 10*time.Millisecond
	cs.recheckAt = at
	if cs.recheck == nil {
		cs.recheck = time.AfterFunc(d, t.recheck)
	} else {
		cs.recheck.Reset(d)
	}
}

// recheck gives wasted slots to waiting peers.
func (t *Torrent) recheck() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.choker.recheckAt = time.Time{}
	if t.closed {
		return
	}
	if now := time.Now(); t.slotWasted(now) {
		t.rechoke(false)
	}
}

func (t *Torrent) unchoke(p *peer) {
	if t.c.cfg.NoUpload {
		return
	}
	p.amChoking = false
	p.unchokedAt = time.Now()
	p.queue(func(b []byte) []byte { return wire.AppendSimple(b, wire.Unchoke) })
}

func (t *Torrent) choke(p *peer) {
	p.amChoking = true
	p.wmu.Lock()
	p.out = wire.AppendSimple(p.out, wire.Choke)
	p.wmu.Unlock()
	p.dropUploads()
	p.signal()
}
