package cache

import (
	"iter"
	"slices"
)

// demand is what the cache's user said its readers want (SetDemand).
type demand struct {
	// reads are the piece ranges under reads in flight; a range's first
	// piece is the one its read needs next.
	reads [][2]int
	// windows are the piece ranges fetched ahead of readers.
	windows [][2]int
	// behind: the pieces below it are behind every reader.
	behind int
}

// tier ranks a held piece for eviction: lower tiers go first.
type tier uint8

const (
	tierBehind tier = iota // behind every reader, outside every window and read
	tierOther              // wanted by nobody now
	tierWindow             // in a readahead window: fetched for a reader, not read yet
	tierRead               // under a read in flight, after the piece it needs next
	tierCursor             // the piece a read in flight needs next
)

// tier is piece p's rank. A nil demand (no readers) puts every piece
// behind.
func (d *demand) tier(p int) tier {
	if d == nil {
		return tierBehind
	}
	t := tierOther
	for _, r := range d.reads {
		switch {
		case p == r[0]:
			return tierCursor
		case p > r[0] && p <= r[1]:
			t = tierRead
		}
	}
	if t == tierRead {
		return t
	}
	for _, w := range d.windows {
		if p >= w[0] && p <= w[1] {
			return tierWindow
		}
	}
	if p < d.behind {
		return tierBehind
	}
	return tierOther
}

// limit is what room for piece p may take: pieces of a lower tier. A
// piece for a window, or wanted by nobody, takes only unprotected pieces;
// a piece under a read may take window pieces too; the piece a read needs
// next may take anything but what other reads need next.
func (d *demand) limit(p int) tier {
	switch t := d.tier(p); t {
	case tierRead, tierCursor:
		return t
	default:
		return tierWindow
	}
}

// chooseVictims picks pieces to evict that free at least deficit bytes,
// among candidates given least recently used first, taking only pieces of
// a tier below limit: first those behind every reader, least recently
// used first; then those nobody wants, least recently used first; then
// window pieces, then pieces under reads, farthest (highest index) first,
// as they are needed last. ok is false, and nothing is to be evicted, when
// all the candidates allowed would not free enough.
func chooseVictims(candidates iter.Seq[int], footprint func(int) int64, d *demand, limit tier, deficit int64) (victims []int, ok bool) {
	return pickVictims(candidates, footprint, d.tier, func(a, b int) int { return b - a }, limit, deficit)
}

// pickVictims is chooseVictims over any kind of candidate, such as the
// pieces of several caches sharing a Pool: tierOf ranks a candidate and
// farther orders those of the window and read tiers, the one needed last
// first.
func pickVictims[K any](candidates iter.Seq[K], footprint func(K) int64, tierOf func(K) tier, farther func(a, b K) int, limit tier, deficit int64) (victims []K, ok bool) {
	if deficit <= 0 {
		return nil, true
	}
	var byTier [tierCursor][]K
	var freeable, behind int64
	for q := range candidates {
		t := tierOf(q)
		if t >= limit {
			continue
		}
		byTier[t] = append(byTier[t], q)
		freeable += footprint(q)
		if t == tierBehind {
			// The least recently used pieces behind every reader
			// are enough: no need to look further.
			if behind += footprint(q); behind >= deficit {
				break
			}
		}
	}
	if freeable < deficit {
		return nil, false
	}
	for t := tierWindow; t < tierCursor; t++ {
		slices.SortFunc(byTier[t], farther)
	}
	for _, qs := range byTier {
		for _, q := range qs {
			if deficit <= 0 {
				return victims, true
			}
			victims = append(victims, q)
			deficit -= footprint(q)
		}
	}
	return victims, true
}
