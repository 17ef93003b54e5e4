package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEvictionPolicyProperty: for random readers (positions, reads in
// flight, windows), held pieces, recency and budgets, eviction never takes
// a protected piece (under a read, or in a window) while an unprotected
// one could go instead, never takes a piece of the tier the room is for
// or above, takes pieces behind every reader before the others, and frees
// enough or nothing.
func TestEvictionPolicyProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 20000 {
		n := 2 + rng.IntN(60)
		d := randomDemand(rng, n)
		held := rng.Perm(n)[:rng.IntN(n+1)] // least recently used first
		fp := make([]int64, n)
		for p := range fp {
			fp[p] = int64(1 + rng.IntN(3))
		}
		footprint := func(p int) int64 { return fp[p] }
		limit := []tier{tierWindow, tierRead, tierCursor}[rng.IntN(3)]
		deficit := int64(rng.IntN(int(2 * n)))
		victims, ok := chooseVictims(slices.Values(held), footprint, d, limit, deficit)
		desc := fmt.Sprintf("iteration %d: demand %+v held %v limit %d deficit %d: victims %v ok %v", iter, *d, held, limit, deficit, victims, ok)

		var allowed int64
		for _, q := range held {
			if d.tier(q) < limit {
				allowed += fp[q]
			}
		}
		if ok != (allowed >= deficit) {
			t.Fatalf("%s; the pieces it may take hold %d bytes", desc, allowed)
		}
		if !ok {
			if len(victims) > 0 {
				t.Fatalf("%s: evicts although that cannot make room", desc)
			}
			continue
		}
		var freed int64
		isVictim := map[int]bool{}
		for k, q := range victims {
			freed += fp[q]
			isVictim[q] = true
			if d.tier(q) >= limit {
				t.Fatalf("%s: evicts piece %d of tier %d", desc, q, d.tier(q))
			}
			if k > 0 && d.tier(q) < d.tier(victims[k-1]) {
				t.Fatalf("%s: evicts piece %d (tier %d) after a piece of a higher tier", desc, q, d.tier(q))
			}
			if k == len(victims)-1 && freed-fp[q] >= deficit {
				t.Fatalf("%s: evicts more than needed", desc)
			}
		}
		if freed < deficit {
			t.Fatalf("%s: frees %d bytes", desc, freed)
		}
		for _, v := range victims {
			if d.tier(v) < tierWindow {
				continue
			}
			// A protected piece goes only once nothing else can.
			for _, q := range held {
				if d.tier(q) < tierWindow && !isVictim[q] {
					t.Fatalf("%s: evicts protected piece %d (tier %d) while piece %d (tier %d) stays", desc, v, d.tier(v), q, d.tier(q))
				}
			}
		}
		// Plain LRU within the unprotected tiers.
		for tr := tierBehind; tr <= tierOther; tr++ {
			var order []int
			for _, q := range held {
				if d.tier(q) == tr {
					order = append(order, q)
				}
			}
			var got []int
			for _, q := range victims {
				if d.tier(q) == tr {
					got = append(got, q)
				}
			}
			if !slices.Equal(got, order[:len(got)]) {
				t.Fatalf("%s: tier %d evicted as %v, not least recently used first (%v)", desc, tr, got, order)
			}
		}
	}
}

// randomDemand makes up one to four readers over n pieces.
func randomDemand(rng *rand.Rand, n int) *demand {
	d := &demand{behind: n}
	for range 1 + rng.IntN(4) {
		pos := rng.IntN(n)
		d.behind = min(d.behind, pos)
		if rng.IntN(2) == 0 {
			d.reads = append(d.reads, [2]int{pos, min(n-1, pos+rng.IntN(4))})
		}
		if rng.IntN(3) > 0 {
			a := min(n-1, pos+rng.IntN(3))
			d.windows = append(d.windows, [2]int{a, min(n-1, a+rng.IntN(8))})
		}
	}
	return d
}

// TestEvictionSparesReaders: through the cache's own API, room for a
// readahead piece is taken from pieces behind the reader, never from the
// window or the read in flight, and the owner hears of each eviction.
func TestEvictionSparesReaders(t *testing.T) {
	const pl = 16 << 10
	tt := newTorrent(t, 21, pl, testFile{name: "x", length: 12 * pl})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 6 * pl})
	var evicted []int
	c.OnEvict(func(p int) { evicted = append(evicted, p) })
	for p := range 6 {
		download(t, c, tt, p)
	}
	// Piece 4 is the oldest now: a reader at piece 2 reads it and ahead.
	checkRead(t, c, tt, 4*pl, 1)
	c.SetDemand([][2]int{{2, 3}}, [][2]int{{4, 7}}, 2)
	for _, p := range []int{6, 7} { // readahead: takes 0 then 1, behind the reader
		if err := c.Reserve(p); err != nil {
			t.Fatalf("Reserve(%d): %v", p, err)
		}
		download(t, c, tt, p)
	}
	if !slices.Equal(evicted, []int{0, 1}) {
		t.Fatalf("evicted %v, want [0 1]: the pieces behind the reader", evicted)
	}
	// Nothing unprotected is left: more readahead is refused, nothing is
	// evicted for it.
	c.SetDemand([][2]int{{2, 3}}, [][2]int{{4, 8}}, 2)
	if err := c.Reserve(8); !errors.Is(err, ErrBudget) {
		t.Fatalf("Reserve(8) for a window full of protected pieces: %v, want ErrBudget", err)
	}
	// The piece a read needs next takes the farthest window piece.
	c.SetDemand([][2]int{{2, 3}, {9, 9}}, [][2]int{{4, 7}}, 2)
	if err := c.Reserve(9); err != nil {
		t.Fatalf("Reserve(9) for a read: %v", err)
	}
	if !slices.Equal(evicted, []int{0, 1, 7}) {
		t.Fatalf("evicted %v, want [0 1 7]", evicted)
	}
	for _, p := range []int{2, 3, 4, 5, 6} {
		if !c.Have(p) {
			t.Fatalf("piece %d, under a read or in a window, was evicted", p)
		}
	}
	if c.Capacity() != 6*pl {
		t.Fatalf("Capacity() = %d, want %d", c.Capacity(), 6*pl)
	}
	c.Discard(9)
	checkInvariants(t, c)
}

type markedFull struct{}

func (markedFull) Error() string     { return "full" }
func (markedFull) StorageFull() bool { return true }

// TestErrBudgetMatchesMarkedTargets: a storage contract's full-storage
// error, marked with StorageFull, matches ErrBudget's wrappers.
func TestErrBudgetMatchesMarkedTargets(t *testing.T) {
	err := fmt.Errorf("cache: piece 3: %w", ErrBudget)
	if !errors.Is(err, markedFull{}) || !errors.Is(err, ErrBudget) {
		t.Fatal("ErrBudget does not match")
	}
	if errors.Is(err, ErrClosed) || errors.Is(errors.New("x"), markedFull{}) {
		t.Fatal("matches too much")
	}
}
