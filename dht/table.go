package dht

import (
	"net/netip"
	"slices"
	"time"
)

// Routing table constants (BEP 5).
const (
	bucketSize = 8
	// goodFor is how long a node stays good after it last answered us.
	goodFor = 15 * time.Minute
	// maxFailures unanswered queries in a row make a node bad: replaceable
	// and no longer handed out.
	maxFailures = 2
)

type entry struct {
	NodeInfo
	lastReply time.Time // zero: never answered us
	failures  int
}

func (e *entry) bad() bool { return e.failures >= maxFailures }

// bucket holds the nodes that share one prefix length with our ID, and
// candidates to replace its nodes that go bad.
type bucket struct {
	nodes        []*entry
	replacements []*entry
	changed      time.Time // last time a node of this bucket answered or joined
}

// table is a Kademlia routing table: bucket i holds nodes whose ID shares
// exactly i leading bits with ours. Its owner (Node) serializes access.
type table struct {
	self    ID
	buckets [160]bucket
}

func newTable(self ID) *table { return &table{self: self} }

func (t *table) bucketOf(id ID) *bucket {
	i := commonPrefixLen(t.self, id)
	if i >= 160 {
		return nil
	}
	return &t.buckets[i]
}

// seen records contact with a node; replied says it answered one of our
// queries (rather than only querying us). New nodes fill free slots, then
// slots of bad nodes; nodes that answered wait as replacements otherwise.
func (t *table) seen(n NodeInfo, replied bool, now time.Time) {
	b := t.bucketOf(n.ID)
	if b == nil || !usable(n.Addr) {
		return
	}
	for _, e := range b.nodes {
		if e.ID != n.ID {
			continue
		}
		if e.Addr != n.Addr {
			if !e.bad() {
				return // a live node keeps its address: no hijacking by ID
			}
			e.Addr = n.Addr
		}
		if replied {
			e.lastReply, e.failures = now, 0
			b.changed = now
		}
		return
	}
	e := &entry{NodeInfo: n}
	if replied {
		e.lastReply = now
	}
	if len(b.nodes) < bucketSize {
		b.nodes = append(b.nodes, e)
		b.changed = now
		return
	}
	if i := slices.IndexFunc(b.nodes, (*entry).bad); i >= 0 {
		b.nodes[i] = e
		b.changed = now
		return
	}
	if !replied {
		return
	}
	b.replacements = slices.DeleteFunc(b.replacements, func(r *entry) bool { return r.ID == n.ID })
	if len(b.replacements) >= bucketSize {
		b.replacements = slices.Delete(b.replacements, 0, 1)
	}
	b.replacements = append(b.replacements, e)
}

// failed records a query to id that went unanswered; a node that went bad
// gives its slot to the freshest replacement.
func (t *table) failed(id ID, addr netip.AddrPort) {
	b := t.bucketOf(id)
	if b == nil {
		return
	}
	i := slices.IndexFunc(b.nodes, func(e *entry) bool { return e.ID == id && e.Addr == addr })
	if i < 0 {
		return
	}
	e := b.nodes[i]
	e.failures++
	if e.bad() && len(b.replacements) > 0 {
		last := len(b.replacements) - 1
		b.nodes[i] = b.replacements[last]
		b.replacements = b.replacements[:last]
	}
}

// closest returns up to k nodes that are not bad, nearest to target first.
func (t *table) closest(target ID, k int) []NodeInfo {
	var all []NodeInfo
	for i := range t.buckets {
		for _, e := range t.buckets[i].nodes {
			if !e.bad() {
				all = append(all, e.NodeInfo)
			}
		}
	}
	slices.SortFunc(all, func(a, b NodeInfo) int { return cmpDistance(target, a.ID, b.ID) })
	return all[:min(k, len(all))]
}

func cmpDistance(target, a, b ID) int {
	switch {
	case a == b:
		return 0
	case closer(target, a, b):
		return -1
	}
	return 1
}

// all lists every node of the table that is not bad.
func (t *table) all() []NodeInfo { return t.closest(t.self, 160*bucketSize) }

// questionable returns nodes that have not answered for goodFor (or never),
// to be pinged.
func (t *table) questionable(now time.Time) []NodeInfo {
	var out []NodeInfo
	for i := range t.buckets {
		for _, e := range t.buckets[i].nodes {
			if now.Sub(e.lastReply) > goodFor {
				out = append(out, e.NodeInfo)
			}
		}
	}
	return out
}

// stale returns the prefix length of every non-empty bucket that has not
// changed for goodFor, and of the first empty bucket after the last one
// in use (where nodes closer to us would go), to be refreshed by lookups.
func (t *table) stale(now time.Time) []int {
	var out []int
	last := -1
	for i := range t.buckets {
		b := &t.buckets[i]
		if len(b.nodes) == 0 {
			continue
		}
		last = i
		if now.Sub(b.changed) > goodFor {
			out = append(out, i)
		}
	}
	if last+1 < 160 {
		out = append(out, last+1)
	}
	return out
}
