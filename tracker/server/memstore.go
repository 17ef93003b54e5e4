package server

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/torfs/torfs/tracker"
)

// memShards spreads swarms over independently locked maps so announces
// to different swarms rarely contend. Info-hashes are SHA-1 output, so
// their first bytes spread evenly.
const memShards = 256

// MemoryStore is the default Store: swarms in sharded maps, each peer a
// fixed-size record (28 bytes for IPv4, 40 for IPv6) kept outside the Go
// heap (see slab), so a million peers take about 40 MB.
type MemoryStore struct {
	timeout time.Duration
	epoch   time.Time
	shards  [memShards]memShard
	stop    chan struct{}
	done    chan struct{}
}

type memShard struct {
	mu     sync.Mutex
	closed bool
	swarms map[[20]byte]swarm
	slabs  slabs
	// Totals of this shard, kept under mu so Stats needs no global lock.
	seeders, leechers int
}

// NewMemoryStore returns a MemoryStore that forgets a peer peerTimeout
// after its last announce (to within a sweep, which runs every
// peerTimeout/4, and a two-second tick). peerTimeout is capped at 8 hours.
// Close stops the sweeper.
func NewMemoryStore(peerTimeout time.Duration) *MemoryStore {
	peerTimeout = min(peerTimeout, maxPeerTimeout)
	s := &MemoryStore{
		timeout: peerTimeout,
		epoch:   time.Now(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	for i := range s.shards {
		s.shards[i].swarms = make(map[[20]byte]swarm)
	}
	go s.sweepLoop(max(peerTimeout/4, 10*time.Millisecond))
	return s
}

// tick is the MemoryStore clock: two-second ticks since the store
// started. Peer records keep it modulo 2^15 (18 hours), which is why peer
// timeouts are capped at maxPeerTimeout.
type tick uint32

const (
	tickLength     = 2 * time.Second
	maxPeerTimeout = 8 * time.Hour
)

func (s *MemoryStore) now() tick {
	return tick(time.Since(s.epoch) / tickLength)
}

func (s *MemoryStore) shard(h *[20]byte) *memShard {
	return &s.shards[binary.BigEndian.Uint16(h[:2])%memShards]
}

// Announce implements Store.
func (s *MemoryStore) Announce(_ context.Context, a *PeerAnnounce, res *AnnounceResult) error {
	sh := s.shard(&a.InfoHash)
	now := s.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.closed {
		return errStoreClosed
	}
	sw, ok := sh.swarms[a.InfoHash]
	if !ok {
		if a.Event == tracker.EventStopped {
			res.Complete, res.Incomplete, res.Downloaded = 0, 0, 0
			return nil
		}
		sw = swarm{v4: peerList{class: -1}, v6: peerList{class: -1}}
	}
	ds, dl := sw.update(&sh.slabs, a, now)
	sh.seeders += ds
	sh.leechers += dl
	res.Complete, res.Incomplete, res.Downloaded = int(sw.seeders), int(sw.leechers), int(sw.downloaded)
	res.Peers = sw.pick(&sh.slabs, res.Peers, a)
	if sw.empty() {
		sw.release(&sh.slabs)
		delete(sh.swarms, a.InfoHash)
	} else {
		sh.swarms[a.InfoHash] = sw
	}
	sh.compactIfWasteful()
	return nil
}

// Scrape implements Store.
func (s *MemoryStore) Scrape(_ context.Context, hashes [][20]byte, out []tracker.ScrapeStats) error {
	for i := range hashes {
		sh := s.shard(&hashes[i])
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return errStoreClosed
		}
		if sw, ok := sh.swarms[hashes[i]]; ok {
			out[i] = tracker.ScrapeStats{Complete: int(sw.seeders), Incomplete: int(sw.leechers), Downloaded: int(sw.downloaded)}
		} else {
			out[i] = tracker.ScrapeStats{}
		}
		sh.mu.Unlock()
	}
	return nil
}

// Stats implements Store.
func (s *MemoryStore) Stats(context.Context) (StoreStats, error) {
	var st StoreStats
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		st.Swarms += len(sh.swarms)
		st.Seeders += sh.seeders
		st.Leechers += sh.leechers
		sh.mu.Unlock()
	}
	return st, nil
}

// Close implements Store: it stops the sweeper and frees the peers'
// memory; later calls fail with an error.
func (s *MemoryStore) Close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		if !sh.closed {
			sh.closed = true
			sh.swarms = nil
			sh.slabs.v4.close()
			sh.slabs.v6.close()
		}
		sh.mu.Unlock()
	}
	return nil
}

var errStoreClosed = errors.New("tracker store is closed")

func (s *MemoryStore) sweepLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep drops peers not heard from within the timeout, one shard at a
// time so announces elsewhere proceed, and swarms left empty.
func (s *MemoryStore) sweep() {
	now := s.now()
	limit := tick((s.timeout + tickLength - 1) / tickLength)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for h, sw := range sh.swarms {
			ds, dl := sw.expire(&sh.slabs, now, limit)
			if ds == 0 && dl == 0 {
				continue
			}
			sh.seeders += ds
			sh.leechers += dl
			if sw.empty() {
				// The swarm's memory goes with its last peer; its
				// download count goes too, as in opentracker.
				sw.release(&sh.slabs)
				delete(sh.swarms, h)
			} else {
				sh.swarms[h] = sw
			}
		}
		sh.compactIfWasteful()
		sh.mu.Unlock()
	}
}

// compactIfWasteful copies every swarm of the shard into fresh, tightly
// sized blocks when free blocks have piled up (see slab.wasteful), and
// returns the old chunks to the kernel. It copies what the shard holds,
// and runs only after at least as much has been freed, so its cost per
// announce is constant. Called with sh.mu held.
func (sh *memShard) compactIfWasteful() {
	if sh.slabs.v4.wasteful() || sh.slabs.v6.wasteful() {
		sh.compact()
	}
}

// compact is compactIfWasteful's work, apart so that its large frame is
// only set up when it runs: announces run on fresh, small goroutine
// stacks, and growing one costs more than the check.
func (sh *memShard) compact() {
	// Allocate everything first: if memory runs out half way, nothing
	// has changed and the old slabs stay in use.
	type move struct {
		h   [20]byte
		ref blockRef
		c   int8
		v6  bool
	}
	var fresh slabs
	moves := make([]move, 0, len(sh.swarms))
	for h, sw := range sh.swarms {
		for fam, l := range []*peerList{&sw.v4, &sw.v6} {
			if l.ref == 0 {
				continue
			}
			c := classFor(l.n)
			var ref blockRef
			var err error
			if fam == 0 {
				ref, err = fresh.v4.alloc(c)
			} else {
				ref, err = fresh.v6.alloc(c)
			}
			if err != nil {
				fresh.v4.close()
				fresh.v6.close()
				return
			}
			moves = append(moves, move{h, ref, int8(c), fam == 1})
		}
	}
	for _, m := range moves {
		sw := sh.swarms[m.h]
		if m.v6 {
			copy(fresh.v6.records(m.ref, sw.v6.n), sh.slabs.v6.records(sw.v6.ref, sw.v6.n))
			sw.v6.ref, sw.v6.class = m.ref, m.c
		} else {
			copy(fresh.v4.records(m.ref, sw.v4.n), sh.slabs.v4.records(sw.v4.ref, sw.v4.n))
			sw.v4.ref, sw.v4.class = m.ref, m.c
		}
		sh.swarms[m.h] = sw
	}
	// The indexes map peer ids to positions, which the copy kept.
	fresh.v4.idx, fresh.v6.idx = sh.slabs.v4.idx, sh.slabs.v6.idx
	sh.slabs.v4.close()
	sh.slabs.v6.close()
	sh.slabs = fresh
}
