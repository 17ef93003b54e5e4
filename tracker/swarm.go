package tracker

import (
	"math/rand/v2"
	"net/netip"
)

// peer4 and peer6 are a swarm's records: fixed size, no pointers, so the
// garbage collector never scans them and a peer costs 32 (IPv4) or 44
// (IPv6) bytes.
type peer4 struct {
	id     [20]byte
	ip     [4]byte
	port   uint16
	seeder bool
	seen   uint32 // MemoryStore clock
}

type peer6 struct {
	id     [20]byte
	ip     [16]byte
	port   uint16
	seeder bool
	seen   uint32
}

// indexAbove is the swarm size past which a swarm keeps a map from peer
// id to record; below it a linear scan over a few cache lines is faster
// and costs no memory.
const indexAbove = 48

// swarm is one info-hash's peers. A peer is identified by its peer id
// within an address family: a BEP 7 client announcing over IPv4 and IPv6
// has one record in each.
type swarm struct {
	v4         []peer4
	v6         []peer6
	idx4, idx6 map[[20]byte]int32
	seeders    int32
	leechers   int32
	downloaded uint32
}

func (sw *swarm) empty() bool { return len(sw.v4) == 0 && len(sw.v6) == 0 }

// update applies an announce and returns the change in seeders and
// leechers.
func (sw *swarm) update(a *PeerAnnounce, now uint32) (ds, dl int) {
	if a.Event == EventCompleted {
		sw.downloaded++
	}
	addr := a.Addr.Addr()
	if addr.Is4() {
		i := find(sw.v4, sw.idx4, &a.PeerID, func(p *peer4) *[20]byte { return &p.id })
		if a.Event == EventStopped {
			if i >= 0 {
				ds, dl = sw.count(sw.v4[i].seeder, -1)
				sw.v4, sw.idx4 = remove(sw.v4, sw.idx4, i, func(p *peer4) *[20]byte { return &p.id })
			}
			return ds, dl
		}
		rec := peer4{id: a.PeerID, ip: addr.As4(), port: a.Addr.Port(), seeder: a.Seeder, seen: now}
		if i >= 0 {
			ds, dl = sw.change(sw.v4[i].seeder, a.Seeder)
			sw.v4[i] = rec
			return ds, dl
		}
		sw.v4, sw.idx4 = insert(sw.v4, sw.idx4, rec, func(p *peer4) *[20]byte { return &p.id })
		return sw.count(a.Seeder, 1)
	}
	i := find(sw.v6, sw.idx6, &a.PeerID, func(p *peer6) *[20]byte { return &p.id })
	if a.Event == EventStopped {
		if i >= 0 {
			ds, dl = sw.count(sw.v6[i].seeder, -1)
			sw.v6, sw.idx6 = remove(sw.v6, sw.idx6, i, func(p *peer6) *[20]byte { return &p.id })
		}
		return ds, dl
	}
	rec := peer6{id: a.PeerID, ip: addr.As16(), port: a.Addr.Port(), seeder: a.Seeder, seen: now}
	if i >= 0 {
		ds, dl = sw.change(sw.v6[i].seeder, a.Seeder)
		sw.v6[i] = rec
		return ds, dl
	}
	sw.v6, sw.idx6 = insert(sw.v6, sw.idx6, rec, func(p *peer6) *[20]byte { return &p.id })
	return sw.count(a.Seeder, 1)
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

// insert appends rec, growing the slice by a quarter rather than
// doubling: swarms are many and mostly small, so slack is what costs.
func insert[T any](recs []T, idx map[[20]byte]int32, rec T, key func(*T) *[20]byte) ([]T, map[[20]byte]int32) {
	if len(recs) == cap(recs) {
		grown := make([]T, len(recs), len(recs)+max(2, len(recs)/4))
		copy(grown, recs)
		recs = grown
	}
	recs = append(recs, rec)
	if idx != nil {
		idx[*key(&rec)] = int32(len(recs) - 1)
	} else if len(recs) > indexAbove {
		idx = make(map[[20]byte]int32, len(recs))
		for i := range recs {
			idx[*key(&recs[i])] = int32(i)
		}
	}
	return recs, idx
}

// remove deletes record i by moving the last record into its place, and
// shrinks the slice when it has become mostly slack.
func remove[T any](recs []T, idx map[[20]byte]int32, i int, key func(*T) *[20]byte) ([]T, map[[20]byte]int32) {
	last := len(recs) - 1
	if idx != nil {
		delete(idx, *key(&recs[i]))
		if i != last {
			idx[*key(&recs[last])] = int32(i)
		}
	}
	recs[i] = recs[last]
	recs = recs[:last]
	if len(recs) == 0 {
		return nil, nil
	}
	if cap(recs) > 8 && len(recs) < cap(recs)/4 {
		recs = append([]T(nil), recs...)
	}
	if idx != nil && len(recs) < indexAbove/2 {
		idx = nil
	}
	return recs, idx
}

// expire drops records last seen before cutoff.
func (sw *swarm) expire(cutoff uint32) (ds, dl int) {
	for i := 0; i < len(sw.v4); {
		if p := &sw.v4[i]; p.seen < cutoff {
			a, b := sw.count(p.seeder, -1)
			ds, dl = ds+a, dl+b
			sw.v4, sw.idx4 = remove(sw.v4, sw.idx4, i, func(p *peer4) *[20]byte { return &p.id })
			continue
		}
		i++
	}
	for i := 0; i < len(sw.v6); {
		if p := &sw.v6[i]; p.seen < cutoff {
			a, b := sw.count(p.seeder, -1)
			ds, dl = ds+a, dl+b
			sw.v6, sw.idx6 = remove(sw.v6, sw.idx6, i, func(p *peer6) *[20]byte { return &p.id })
			continue
		}
		i++
	}
	return ds, dl
}

// pick appends up to a.NumWant peers other than the asker, starting at a
// random record so that every peer gets handed out. A seeder gets
// leechers first: other seeders have nothing to give it.
func (sw *swarm) pick(out []Peer, a *PeerAnnounce) []Peer {
	want := a.NumWant
	if want <= 0 {
		return out
	}
	fam4 := !a.SameFamily || a.Addr.Addr().Is4()
	fam6 := !a.SameFamily || !a.Addr.Addr().Is4()
	passes := 1
	if a.Seeder {
		passes = 2
	}
	for pass := 0; pass < passes && want > 0; pass++ {
		// pass 0 of a seeder: leechers only; pass 1: seeders.
		only := func(seeder bool) bool { return passes == 1 || (pass == 1) == seeder }
		if fam4 && len(sw.v4) > 0 {
			start := rand.N(len(sw.v4))
			for k := 0; k < len(sw.v4) && want > 0; k++ {
				p := &sw.v4[(start+k)%len(sw.v4)]
				if p.id == a.PeerID || !only(p.seeder) {
					continue
				}
				out = append(out, Peer{ID: p.id, Addr: netip.AddrPortFrom(netip.AddrFrom4(p.ip), p.port)})
				want--
			}
		}
		if fam6 && len(sw.v6) > 0 {
			start := rand.N(len(sw.v6))
			for k := 0; k < len(sw.v6) && want > 0; k++ {
				p := &sw.v6[(start+k)%len(sw.v6)]
				if p.id == a.PeerID || !only(p.seeder) {
					continue
				}
				out = append(out, Peer{ID: p.id, Addr: netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)})
				want--
			}
		}
	}
	return out
}
