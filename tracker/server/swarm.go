package server

import (
	"errors"
	"math/rand/v2"
	"net/netip"

	"github.com/torfs/torfs/tracker"
)

// peer4 and peer6 are a swarm's records: fixed size and pointer-free, so
// they live in a slab outside the Go heap and a peer costs 28 (IPv4) or
// 40 (IPv6) bytes.
type peer4 struct {
	id   [20]byte
	ip   [4]byte
	port uint16
	meta peerMeta
}

type peer6 struct {
	id   [20]byte
	ip   [16]byte
	port uint16
	meta peerMeta
}

// peerMeta packs whether a peer seeds (the top bit) with when it last
// announced (the low 15 bits, in ticks of the MemoryStore clock, modulo
// 2^15): two bytes instead of eight, which is 6% of a record.
type peerMeta uint16

const (
	metaSeeder  = 1 << 15
	metaSeenMax = metaSeeder - 1
)

func newMeta(seeder bool, now tick) peerMeta {
	m := peerMeta(now) & metaSeenMax
	if seeder {
		m |= metaSeeder
	}
	return m
}

func (m peerMeta) seeder() bool { return m&metaSeeder != 0 }

// age is how many ticks ago the peer announced. The clock wraps every
// 2^15 ticks; ages stay right as long as every record is looked at (swept)
// more often than that, which the sweeper does many times over.
func (m peerMeta) age(now tick) tick {
	return (now - tick(m&metaSeenMax)) & metaSeenMax
}

// idOf4 and idOf6 give the identity of a record.
func idOf4(p *peer4) *[20]byte { return &p.id }
func idOf6(p *peer6) *[20]byte { return &p.id }

// indexAbove is the swarm size past which a swarm keeps a map from peer
// id to record; below it a linear scan over a few cache lines is faster
// and costs no memory.
const indexAbove = 48

// errSwarmFull is returned when one address family of a swarm already
// holds maxSwarmRecords peers; the announce is answered but not recorded.
var errSwarmFull = errors.New("swarm full")

// peerList is one family's records of a swarm: a block in a slab, and
// for big swarms a handle on an index in the slab's indexTable.
type peerList struct {
	ref   blockRef
	n     uint32
	idx   uint32 // 0: no index
	class int8   // -1 when ref is 0
}

// swarm is one info-hash's peers. A peer is identified by its peer id
// within an address family: a BEP 7 client announcing over IPv4 and IPv6
// has one record in each. A swarm holds no pointers, so the map of
// swarms holds them by value and the garbage collector never scans it.
type swarm struct {
	v4, v6     peerList
	seeders    int32
	leechers   int32
	downloaded uint32
}

// slabs are a shard's record storage.
type slabs struct {
	v4 slab[peer4]
	v6 slab[peer6]
}

func (sw *swarm) empty() bool { return sw.v4.n == 0 && sw.v6.n == 0 }

// update applies an announce and returns the change in seeders and
// leechers.
func (sw *swarm) update(sl *slabs, a *PeerAnnounce, now tick) (ds, dl int) {
	if a.Event == tracker.EventCompleted {
		sw.downloaded++
	}
	addr := a.Addr.Addr()
	if addr.Is4() {
		rec := peer4{id: a.PeerID, ip: addr.As4(), port: a.Addr.Port(), meta: newMeta(a.Seeder, now)}
		return updateList(sw, &sw.v4, &sl.v4, &rec, a.Event, idOf4, func(p *peer4) bool { return p.meta.seeder() })
	}
	rec := peer6{id: a.PeerID, ip: addr.As16(), port: a.Addr.Port(), meta: newMeta(a.Seeder, now)}
	return updateList(sw, &sw.v6, &sl.v6, &rec, a.Event, idOf6, func(p *peer6) bool { return p.meta.seeder() })
}

func updateList[T any](sw *swarm, l *peerList, s *slab[T], rec *T, ev tracker.Event, key func(*T) *[20]byte, seeder func(*T) bool) (ds, dl int) {
	recs := s.records(l.ref, l.n)
	i := find(recs, s.idx.get(l.idx), key(rec), key)
	if ev == tracker.EventStopped {
		if i >= 0 {
			ds, dl = sw.count(seeder(&recs[i]), -1)
			remove(l, s, i, key)
		}
		return ds, dl
	}
	if i >= 0 {
		ds, dl = sw.change(seeder(&recs[i]), seeder(rec))
		recs[i] = *rec
		return ds, dl
	}
	if insert(l, s, rec, key) != nil {
		return 0, 0 // full or out of memory: answer without recording
	}
	return sw.count(seeder(rec), 1)
}

// count adds n peers of the given kind.
func (sw *swarm) count(seeder bool, n int) (ds, dl int) {
	if seeder {
		sw.seeders += int32(n)
		return n, 0
	}
	sw.leechers += int32(n)
	return 0, n
}

// change moves one peer between seeders and leechers.
func (sw *swarm) change(was, is bool) (ds, dl int) {
	if was == is {
		return 0, 0
	}
	a1, b1 := sw.count(was, -1)
	a2, b2 := sw.count(is, 1)
	return a1 + a2, b1 + b2
}

func find[T any](recs []T, idx map[[20]byte]int32, id *[20]byte, key func(*T) *[20]byte) int {
	if idx != nil {
		if i, ok := idx[*id]; ok {
			return int(i)
		}
		return -1
	}
	for i := range recs {
		if *key(&recs[i]) == *id {
			return i
		}
	}
	return -1
}

// move copies l's records into a block of class c and frees the old one.
func move[T any](l *peerList, s *slab[T], c int) error {
	ref, err := s.alloc(c)
	if err != nil {
		return err
	}
	copy(s.records(ref, l.n), s.records(l.ref, l.n))
	if l.ref != 0 {
		s.release(l.ref, int(l.class))
	}
	l.ref, l.class = ref, int8(c)
	return nil
}

// insert appends rec, moving to the next size class when the block is
// full.
func insert[T any](l *peerList, s *slab[T], rec *T, key func(*T) *[20]byte) error {
	if l.ref == 0 || l.n == classCaps[l.class] {
		if l.n >= maxSwarmRecords {
			return errSwarmFull
		}
		if err := move(l, s, classFor(l.n+1)); err != nil {
			return err
		}
	}
	l.n++
	recs := s.records(l.ref, l.n)
	recs[l.n-1] = *rec
	if idx := s.idx.get(l.idx); idx != nil {
		idx[*key(rec)] = int32(l.n - 1)
	} else if l.n > indexAbove {
		idx = make(map[[20]byte]int32, l.n)
		for i := range recs {
			idx[*key(&recs[i])] = int32(i)
		}
		l.idx = s.idx.add(idx)
	}
	return nil
}

// remove deletes record i by moving the last record into its place, and
// moves to a smaller block when this one has become mostly slack.
func remove[T any](l *peerList, s *slab[T], i int, key func(*T) *[20]byte) {
	recs := s.records(l.ref, l.n)
	last := len(recs) - 1
	if idx := s.idx.get(l.idx); idx != nil {
		delete(idx, *key(&recs[i]))
		if i != last {
			idx[*key(&recs[last])] = int32(i)
		}
	}
	recs[i] = recs[last]
	l.n--
	if l.n == 0 {
		s.release(l.ref, int(l.class))
		s.idx.drop(l.idx)
		l.ref, l.class, l.idx = 0, -1, 0
		return
	}
	if l.n < classCaps[l.class]/4 {
		// Best effort: if no memory can be had, keep the big block.
		move(l, s, classFor(l.n))
	}
	if l.idx != 0 && l.n < indexAbove/2 {
		s.idx.drop(l.idx)
		l.idx = 0
	}
}

// release frees the swarm's blocks (the swarm is being dropped).
func (sw *swarm) release(sl *slabs) {
	if sw.v4.ref != 0 {
		sl.v4.release(sw.v4.ref, int(sw.v4.class))
	}
	if sw.v6.ref != 0 {
		sl.v6.release(sw.v6.ref, int(sw.v6.class))
	}
	sl.v4.idx.drop(sw.v4.idx)
	sl.v6.idx.drop(sw.v6.idx)
	*sw = swarm{v4: peerList{class: -1}, v6: peerList{class: -1}}
}

// expire drops records older than limit ticks.
func (sw *swarm) expire(sl *slabs, now, limit tick) (ds, dl int) {
	for i := 0; i < int(sw.v4.n); {
		p := &sl.v4.records(sw.v4.ref, sw.v4.n)[i]
		if p.meta.age(now) > limit {
			a, b := sw.count(p.meta.seeder(), -1)
			ds, dl = ds+a, dl+b
			remove(&sw.v4, &sl.v4, i, idOf4)
			continue
		}
		i++
	}
	for i := 0; i < int(sw.v6.n); {
		p := &sl.v6.records(sw.v6.ref, sw.v6.n)[i]
		if p.meta.age(now) > limit {
			a, b := sw.count(p.meta.seeder(), -1)
			ds, dl = ds+a, dl+b
			remove(&sw.v6, &sl.v6, i, idOf6)
			continue
		}
		i++
	}
	return ds, dl
}

// pick appends up to a.NumWant peers other than the asker, starting at a
// random record so that every peer gets handed out. A seeder gets
// leechers first: other seeders have nothing to give it.
func (sw *swarm) pick(sl *slabs, out []Peer, a *PeerAnnounce) []Peer {
	want := a.NumWant
	if want <= 0 {
		return out
	}
	fam4 := !a.SameFamily || a.Addr.Addr().Is4()
	fam6 := !a.SameFamily || !a.Addr.Addr().Is4()
	v4, v6 := sl.v4.records(sw.v4.ref, sw.v4.n), sl.v6.records(sw.v6.ref, sw.v6.n)
	passes := 1
	if a.Seeder {
		passes = 2
	}
	for pass := 0; pass < passes && want > 0; pass++ {
		// One pass for a leecher takes everyone; a seeder's first pass
		// takes leechers, its second seeders.
		wantSeeder := pass == 1
		if fam4 && len(v4) > 0 {
			start := rand.N(len(v4))
			for k := 0; k < len(v4) && want > 0; k++ {
				p := &v4[(start+k)%len(v4)]
				if p.id == a.PeerID || (passes == 2 && p.meta.seeder() != wantSeeder) {
					continue
				}
				out = append(out, Peer{ID: p.id, Addr: netip.AddrPortFrom(netip.AddrFrom4(p.ip), p.port)})
				want--
			}
		}
		if fam6 && len(v6) > 0 {
			start := rand.N(len(v6))
			for k := 0; k < len(v6) && want > 0; k++ {
				p := &v6[(start+k)%len(v6)]
				if p.id == a.PeerID || (passes == 2 && p.meta.seeder() != wantSeeder) {
					continue
				}
				out = append(out, Peer{ID: p.id, Addr: netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)})
				want--
			}
		}
	}
	return out
}

// indexTable holds the peer-id indexes of a slab's big swarms, so that
// swarms can refer to them by number and stay pointer-free.
type indexTable struct {
	maps []map[[20]byte]int32
	free []uint32
}

func (t *indexTable) get(h uint32) map[[20]byte]int32 {
	if h == 0 {
		return nil
	}
	return t.maps[h-1]
}

func (t *indexTable) add(m map[[20]byte]int32) uint32 {
	if n := len(t.free); n > 0 {
		h := t.free[n-1]
		t.free = t.free[:n-1]
		t.maps[h-1] = m
		return h
	}
	t.maps = append(t.maps, m)
	return uint32(len(t.maps))
}

func (t *indexTable) drop(h uint32) {
	if h == 0 {
		return
	}
	t.maps[h-1] = nil
	t.free = append(t.free, h)
}
