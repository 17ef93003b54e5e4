package cache

// pieceLRU orders the pieces that are eviction candidates, least recently
// used first. It is an intrusive list over piece indices: no allocation
// per operation, and eviction can walk it in order (policy.go), which
// golang-lru's simplelru only allows by copying every key. Guarded by
// Cache.mu.
type pieceLRU struct {
	prev, next []int32 // links; -1 ends the list
	in         []bool
	head, tail int32 // least and most recently used; -1 when empty
	n          int
}

func newPieceLRU(pieces int) *pieceLRU {
	l := &pieceLRU{prev: make([]int32, pieces), next: make([]int32, pieces), in: make([]bool, pieces), head: -1, tail: -1}
	return l
}

// Contains reports whether p is in the list.
func (l *pieceLRU) Contains(p int) bool { return l.in[p] }

// Len is the number of pieces in the list.
func (l *pieceLRU) Len() int { return l.n }

// Add makes p the most recently used, adding it if needed.
func (l *pieceLRU) Add(p int) {
	if l.in[p] {
		l.unlink(p)
	}
	l.in[p] = true
	l.n++
	l.prev[p], l.next[p] = l.tail, -1
	if l.tail >= 0 {
		l.next[l.tail] = int32(p)
	} else {
		l.head = int32(p)
	}
	l.tail = int32(p)
}

// Touch makes p, if present, the most recently used.
func (l *pieceLRU) Touch(p int) {
	if l.in[p] {
		l.Add(p)
	}
}

// Remove takes p out of the list and reports whether it was there.
func (l *pieceLRU) Remove(p int) bool {
	if !l.in[p] {
		return false
	}
	l.unlink(p)
	return true
}

func (l *pieceLRU) unlink(p int) {
	pr, nx := l.prev[p], l.next[p]
	if pr >= 0 {
		l.next[pr] = nx
	} else {
		l.head = nx
	}
	if nx >= 0 {
		l.prev[nx] = pr
	} else {
		l.tail = pr
	}
	l.in[p] = false
	l.n--
}

// Oldest is the least recently used piece, or -1.
func (l *pieceLRU) Oldest() int { return int(l.head) }

// Newer is the piece used right after p, or -1.
func (l *pieceLRU) Newer(p int) int { return int(l.next[p]) }
