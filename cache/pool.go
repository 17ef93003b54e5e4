package cache

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/torfs/torfs/internal/bytesize"
)

// Pool is one byte budget shared by several caches, such as the torrents
// of one mount: the sum of what they hold on disk stays within it, and
// room for a piece of any of them is made by evicting from all of them in
// one order, the reader-aware LRU of the package documentation applied
// across the caches (each piece ranked by its own cache's readers, the
// least recently used first among equals). Give it to each cache in
// Options.Pool. A Pool is safe for concurrent use.
type Pool struct {
	// mu orders every eviction among the members: it is taken before any
	// member's allocMu and mu, and a member's own operations that take
	// those never wait for it, so reserves of different members cannot
	// deadlock.
	mu      sync.Mutex
	members []*Cache // guarded by mu
	// readable is a copy of members for readers that must not wait for
	// mu, which evictions hold while they take every member's locks.
	readable atomic.Pointer[[]*Cache]

	budget int64
	// limit is the budget in force: budget, or less once a member's disk
	// filled up.
	limit  atomic.Int64
	shrunk atomic.Bool
	// used is the sum of the members' charges; each member changes it
	// with its own mu held, so it is exact while mu of every member is.
	used atomic.Int64
	// clock stamps each use of a piece, so that the least recently used
	// piece of all members can be found.
	clock atomic.Uint64
}

// NewPool returns a pool of budget bytes, which must be positive.
func NewPool(budget int64) (*Pool, error) {
	if budget <= 0 {
		return nil, fmt.Errorf("cache: a shared budget must be positive, not %d", budget)
	}
	p := &Pool{budget: budget}
	p.limit.Store(budget)
	return p, nil
}

// Budget returns the budget in force: the one given to NewPool, or less
// once the disk under a member filled up (ErrDiskFull).
func (pl *Pool) Budget() int64 { return pl.limit.Load() }

// readers counts the members other than c with readers now. It takes
// no lock: the engine asks with its own lock held, on every read.
func (pl *Pool) readers(c *Cache) int {
	members := pl.readable.Load()
	if members == nil {
		return 0
	}
	n := 0
	for _, m := range *members {
		if m != c && m.reading.Load() {
			n++
		}
	}
	return n
}

// Used returns the bytes charged to the pieces its open caches hold.
func (pl *Pool) Used() int64 { return pl.used.Load() }

// join makes c, which holds pieces charged to c.used, a member.
func (pl *Pool) join(c *Cache) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inPool = true
	pl.used.Add(c.used)
	pl.members = append(pl.members, c)
	pl.readable.Store(new(slices.Clone(pl.members)))
}

// leave takes c out of the pool with its charge: what a closed cache
// leaves on disk is not the mount's any more.
func (pl *Pool) leave(c *Cache) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	i := slices.Index(pl.members, c)
	if i < 0 {
		return
	}
	pl.members = slices.Delete(pl.members, i, i+1)
	pl.readable.Store(new(slices.Clone(pl.members)))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inPool = false
	pl.used.Add(-c.used)
}

// shrink lowers the budget in force to limit after a full disk.
func (pl *Pool) shrink(limit int64) int64 {
	for {
		cur := pl.limit.Load()
		limit = min(limit, cur)
		if pl.limit.CompareAndSwap(cur, limit) {
			pl.shrunk.Store(true)
			return limit
		}
	}
}

// pooled is a piece of one of a pool's caches.
type pooled struct {
	c *Cache
	p int
}

// reserve is Cache.reserve for a member c: room for piece p is made by
// evicting from any member. With p < 0 it only evicts until the members
// fit the budget (trim).
func (pl *Pool) reserve(c *Cache, p int) error {
	pl.mu.Lock()
	members := pl.members // fixed while pl.mu is held
	if !slices.Contains(members, c) {
		pl.mu.Unlock()
		return ErrClosed
	}
	for _, m := range members {
		m.allocMu.Lock()
	}
	for _, m := range members {
		m.mu.Lock()
	}
	unlock := func() {
		for _, m := range members {
			m.mu.Unlock()
		}
	}
	var (
		victims []pooled
		err     error
		need    int64
		limit   = tierCursor + 1
		room    = int64(-1) // the queued holes p's data may land on top of
	)
	switch {
	case c.closed:
		err = ErrClosed
	case p >= 0 && c.pieces[p].state != stateMissing:
		p = -2 // nothing to do
	default:
		if p >= 0 {
			need = c.footprint[p]
			limit = c.demand.Load().limit(p)
		}
		victims, err = pl.makeRoomLocked(members, need, c.punchQ.max, limit)
		if err == nil && p >= 0 {
			c.pieces[p].state = stateWriting
			c.charge(c.footprint[p])
			room = max(pl.Budget()-pl.used.Load(), 0)
		}
	}
	var byCache map[*Cache][]int
	var holes map[*Cache][]hole
	if len(victims) > 0 {
		byCache = make(map[*Cache][]int)
		for _, v := range victims {
			byCache[v.c] = append(byCache[v.c], v.p)
		}
		holes = make(map[*Cache][]hole, len(byCache))
		for m, ps := range byCache {
			holes[m] = m.holesLocked(ps)
		}
	}
	shrunk := pl.shrunk.Load()
	if room >= 0 {
		awaitRoomLocked(c, p, members, room, holes, shrunk)
	}
	unlock()
	for m, hs := range holes {
		if shrunk {
			m.punch(hs)
		} else {
			m.queuePunch(hs)
		}
	}
	for _, m := range members {
		m.allocMu.Unlock()
	}
	pl.mu.Unlock()
	for m, ps := range byCache {
		m.tellEvicted(ps)
	}
	if err != nil {
		if errors.Is(err, ErrClosed) || p < 0 {
			return err
		}
		return fmt.Errorf("cache: piece %d: %w", p, err)
	}
	return nil
}

// awaitRoomLocked records in piece p of member c, just reserved, the
// holes of every member's punch queue its first write waits for: those
// over its blocks, and enough, counting the holes this reservation is
// about to queue (unless shrunk: they are punched at once), that at most
// room bytes of holes stay queued across the members. Called with pl.mu
// and every member's allocMu and mu held.
func awaitRoomLocked(c *Cache, p int, members []*Cache, room int64, holes map[*Cache][]hole, shrunk bool) {
	c.awaitHolesLocked(p, -1, nil)
	pc := &c.pieces[p]
	pc.poolWaits = pc.poolWaits[:0]
	queued := func(m *Cache) []hole {
		if shrunk {
			return nil
		}
		return holes[m]
	}
	excess := -room
	for _, m := range members {
		q := &m.punchQ
		q.mu.Lock()
		if !q.closed {
			excess += q.queuedLocked(queued(m))
		}
		q.mu.Unlock()
	}
	for _, m := range members {
		if excess <= 0 {
			return
		}
		q := &m.punchQ
		q.mu.Lock()
		var seq uint64
		if !q.closed {
			n := min(q.queuedLocked(queued(m)), excess)
			excess -= n
			seq = q.seqFreeingLocked(n, queued(m))
		}
		q.mu.Unlock()
		switch {
		case seq == 0:
		case m == c:
			pc.punchWait = max(pc.punchWait, seq)
		default:
			pc.poolWaits = append(pc.poolWaits, queueWait{q, seq})
		}
	}
}

// makeRoomLocked evicts pieces of any member, of a tier below limit by
// their own cache's readers, until need more bytes fit in the budget, and
// returns them; their holes are still to punch. It evicts nothing when
// that cannot make room. For a reservation it frees headroom bytes more
// if pieces nobody wants allow, as Cache.makeRoomLocked does. Called with
// pl.mu and every member's allocMu and mu held.
func (pl *Pool) makeRoomLocked(members []*Cache, need, headroom int64, limit tier) ([]pooled, error) {
	budget := pl.Budget()
	used := pl.used.Load()
	var pinned int64
	for _, m := range members {
		pinned += m.used - m.evictable
	}
	if pinned+need > budget {
		return nil, fmt.Errorf("%w: the shared budget of %s cannot hold %s more while %s is held by pieces being written, verified or read; raise the cache size",
			ErrBudget, bytesize.Format(budget), bytesize.Format(need), bytesize.Format(pinned))
	}
	if roomLeft(used, need, headroom, budget) {
		return nil, nil
	}
	demands := make(map[*Cache]*demand, len(members))
	for _, m := range members {
		demands[m] = m.demand.Load()
	}
	tierOf := func(v pooled) tier { return demands[v.c].tier(v.p) }
	footprint := func(v pooled) int64 { return v.c.footprint[v.p] }
	farther := func(a, b pooled) int { return b.p - a.p }
	var victims []pooled
	ok := false
	if need > 0 {
		victims, ok = pickVictims(pl.candidatesLocked(members), footprint, tierOf, farther, min(limit, tierWindow), used+need+headroom-budget)
	}
	if !ok {
		victims, ok = pickVictims(pl.candidatesLocked(members), footprint, tierOf, farther, limit, used+need-budget)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the shared budget of %s cannot hold %s more while readers need the %s held; raise the cache size or lower the readahead",
			ErrBudget, bytesize.Format(budget), bytesize.Format(need), bytesize.Format(used))
	}
	for _, v := range victims {
		v.c.forgetLocked(v.p)
		v.c.evictions++
	}
	return victims, nil
}

// candidatesLocked yields the members' pieces that may be evicted, least
// recently used first across all of them: each member's LRU list is in
// the order of its pieces' stamps, so merging the lists by stamp gives
// the pool's order. Called with every member's mu held.
func (pl *Pool) candidatesLocked(members []*Cache) iter.Seq[pooled] {
	return func(yield func(pooled) bool) {
		heads := make([]int, len(members))
		for i, m := range members {
			heads[i] = m.lru.Oldest()
		}
		for {
			best := -1
			for i, m := range members {
				if heads[i] >= 0 && (best < 0 || m.stamps[heads[i]] < members[best].stamps[heads[best]]) {
					best = i
				}
			}
			if best < 0 {
				return
			}
			m, q := members[best], heads[best]
			heads[best] = m.lru.Newer(q)
			if m.pieces[q].pins == 0 && !yield(pooled{m, q}) {
				return
			}
		}
	}
}
