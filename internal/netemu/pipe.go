package netemu

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Stats counts what one direction of the link did.
type Stats struct {
	Packets int64 // delivered to the far side
	Bytes   int64 // delivered, IP headers included
	// Lost were dropped at random (Config.Loss); Dropped at the tail of a
	// full queue (Config.Limit).
	Lost, Dropped int64
	// MaxQueue is the most packets held at once.
	MaxQueue int
	// MaxQueueDelay is the longest a packet waited for the rate limit
	// (its departure minus its entry, serialization included; the fixed
	// Delay is not counted); SumQueueDelay/Accepted gives the mean.
	MaxQueueDelay, SumQueueDelay time.Duration
	Accepted                     int64 // entered the queue (neither lost nor dropped)
	// QueueDelayHist[i] counts the accepted packets that waited i to i+1
	// ms for the rate; the last bucket also counts every longer wait.
	QueueDelayHist [256]int64
}

// QueueDelayPercentile is the wait for the rate that a fraction p (0..1)
// of the accepted packets did not exceed, to within the 1 ms above it
// (never more than MaxQueueDelay).
func (s Stats) QueueDelayPercentile(p float64) time.Duration {
	if s.Accepted == 0 {
		return 0
	}
	rank := int64(math.Ceil(p * float64(s.Accepted)))
	var seen int64
	for i, n := range s.QueueDelayHist {
		seen += n
		if seen >= rank {
			return min(time.Duration(i+1)*time.Millisecond, s.MaxQueueDelay)
		}
	}
	return s.MaxQueueDelay
}

// MeanQueueDelay is the mean time an accepted packet waited for the rate.
func (s Stats) MeanQueueDelay() time.Duration {
	if s.Accepted == 0 {
		return 0
	}
	return s.SumQueueDelay / time.Duration(s.Accepted)
}

// pipe is one direction of the link: a ring of packet buffers with the
// time each may leave. One goroutine fills it (reserve, commit) and one
// drains it (front, pop); the ring's slots are preallocated, so moving a
// packet allocates nothing. Time is passed in, so tests use a fake clock.
type pipe struct {
	cfg     Config
	rng     *rand.Rand
	bufs    [][]byte    // limit slots of MTU bytes
	lens    []int       // packet length in each slot
	arrive  []time.Time // when each slot's packet reaches the far side
	scratch []byte      // where a packet goes when the ring is full

	mu         sync.Mutex
	head, n    int
	lastDepart time.Time
	stats      Stats
	// ready gets a token when the ring turns non-empty, to wake the
	// drainer.
	ready chan struct{}
}

func newPipe(cfg Config, seed uint64) *pipe {
	limit := cfg.limit()
	p := &pipe{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		bufs:    make([][]byte, limit),
		lens:    make([]int, limit),
		arrive:  make([]time.Time, limit),
		scratch: make([]byte, MTU),
		ready:   make(chan struct{}, 1),
	}
	slab := make([]byte, limit*MTU)
	for i := range p.bufs {
		p.bufs[i] = slab[i*MTU : (i+1)*MTU : (i+1)*MTU]
	}
	return p
}

// reserve returns the buffer the next packet is read into: the ring's
// free tail slot, or scratch when the ring is full (the packet will then
// be dropped by commit). Only the filling goroutine calls it.
func (p *pipe) reserve() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == len(p.bufs) {
		return p.scratch
	}
	return p.bufs[(p.head+p.n)%len(p.bufs)]
}

// verdict is what commit did with a packet.
type verdict int

const (
	accepted verdict = iota
	lost
	dropped
)

// commit schedules the size-byte packet just read into buf (from
// reserve) as entering the link at now.
func (p *pipe) commit(now time.Time, buf []byte, size int) verdict {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Loss > 0 && p.rng.Float64() < p.cfg.Loss {
		p.stats.Lost++
		return lost
	}
	if &buf[0] == &p.scratch[0] {
		p.stats.Dropped++
		return dropped
	}
	depart := now
	if p.lastDepart.After(depart) {
		depart = p.lastDepart
	}
	if p.cfg.Rate > 0 {
		depart = depart.Add(time.Duration(int64(size) * 8 * int64(time.Second) / p.cfg.Rate))
	}
	p.lastDepart = depart
	tail := (p.head + p.n) % len(p.bufs)
	p.lens[tail] = size
	p.arrive[tail] = depart.Add(p.cfg.Delay)
	p.n++
	wait := depart.Sub(now)
	p.stats.Accepted++
	p.stats.SumQueueDelay += wait
	p.stats.MaxQueueDelay = max(p.stats.MaxQueueDelay, wait)
	p.stats.QueueDelayHist[min(int(wait/time.Millisecond), len(p.stats.QueueDelayHist)-1)]++
	p.stats.MaxQueue = max(p.stats.MaxQueue, p.n)
	if p.n == 1 {
		select {
		case p.ready <- struct{}{}:
		default:
		}
	}
	return accepted
}

// front is the oldest packet and when it arrives; ok is false when the
// ring is empty. The packet stays in the ring until pop.
func (p *pipe) front() (pkt []byte, at time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return nil, time.Time{}, false
	}
	return p.bufs[p.head][:p.lens[p.head]], p.arrive[p.head], true
}

// pop removes the oldest packet, counting it as delivered.
func (p *pipe) pop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Packets++
	p.stats.Bytes += int64(p.lens[p.head])
	p.head = (p.head + 1) % len(p.bufs)
	p.n--
}

func (p *pipe) snapshot() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *pipe) resetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{}
}
