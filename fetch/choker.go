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
// the rest. Called with t.mu held.
func (t *Torrent) rechoke(rotate bool) {
	var cands []*peer
	for p := range t.peers {
		if p.peerInterested && !p.gone {
			cands = append(cands, p)
		}
	}
	seeding := t.seeding()
	slices.SortFunc(cands, func(a, b *peer) int {
		if seeding {
			return cmp.Compare(b.upRate, a.upRate)
		}
		if c := cmp.Compare(b.downRate, a.downRate); c != 0 {
			return c
		}
		return cmp.Compare(b.upRate, a.upRate)
	})
	keep := map[*peer]bool{}
	for _, p := range cands[:min(len(cands), unchokeSlots)] {
		keep[p] = true
	}
	opt := t.optimistic
	if rotate || opt == nil || opt.gone || !opt.peerInterested || keep[opt] {
		opt = nil
		if rest := len(cands) - unchokeSlots; rest > 0 {
			opt = cands[unchokeSlots+t.rng.IntN(rest)]
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
			t.choke(p)
		}
	}
}

// maybeUnchoke unchokes a newly interested peer at once when a slot is
// free, rather than making it wait for the next round.
func (t *Torrent) maybeUnchoke(p *peer) {
	if !p.amChoking {
		return
	}
	n := 0
	for q := range t.peers {
		if !q.amChoking {
			n++
		}
	}
	if n < unchokeSlots+1 {
		t.unchoke(p)
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
