package fetch

import (
	"errors"
	"fmt"
	"sync"

	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/wire"
)

// evictState carries the storage's eviction reports to the session. The
// storage may report from a call the session made with t.mu held
// (Reserve from the picker), so a report only queues the piece; the
// queue is drained under t.mu by whoever takes it next: evictLoop, or
// reserve right after the call that evicted.
type evictState struct {
	mu    sync.Mutex
	queue []int
	wake  chan struct{}
}

// onEvict is the storage's OnEvict function: it never blocks.
func (t *Torrent) onEvict(p int) {
	e := &t.evicts
	e.mu.Lock()
	e.queue = append(e.queue, p)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// evictLoop applies eviction reports that arrive while nobody holds
// t.mu, and re-evaluates what peers to ask.
func (t *Torrent) evictLoop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.evicts.wake:
		}
		t.mu.Lock()
		if t.takeEvictions() {
			t.demandChanged()
		}
		t.mu.Unlock()
	}
}

// takeEvictions marks the pieces the storage reported evicted as missing.
// It reports whether any was. Called with t.mu held.
func (t *Torrent) takeEvictions() bool {
	e := &t.evicts
	e.mu.Lock()
	q := e.queue
	e.queue = nil
	e.mu.Unlock()
	lost := false
	for _, p := range q {
		lost = t.lost(p) || lost
	}
	return lost
}

// lost notes that the storage evicted piece p: it is no longer held, the
// session is no longer complete, and a reader that needs it again has it
// fetched again. Called with t.mu held.
func (t *Torrent) lost(p int) bool {
	if t.state[p] != pieceHave || t.st.Have(p) {
		return false // a stale report: p was fetched again since
	}
	t.state[p] = pieceMissing
	t.haveCount--
	if t.evicted == nil {
		t.evicted = make([]bool, len(t.state))
	}
	t.evicted[p] = true
	t.lostWanted(p)
	if t.isComplete {
		t.isComplete = false
		t.complete = make(chan struct{})
		t.log.Info("a piece was evicted; the download is no longer complete", "piece", p)
	}
	return true
}

// reserve asks the storage for room for piece i, wanted at level, before
// its blocks are requested. Without room it returns false and the piece
// stays missing; new requests for it wait until something frees room (a
// read moving on, a piece verified). Called with t.mu held.
func (t *Torrent) reserve(i, level int) bool {
	if level <= prioNormal && t.capPieces > 0 &&
		t.haveCount+len(t.activeList)+len(t.hashQ)+2 >= t.capPieces {
		// Downloading everything into a budget that cannot hold it: keep
		// what is held rather than churn it.
		return false
	}
	err := t.st.Reserve(i)
	if errors.Is(err, ErrStorageFull) && level >= prioReadahead && t.reapAbandoned() > 0 {
		err = t.st.Reserve(i) // pieces nobody wants any more held the room
	}
	t.takeEvictions()
	if err != nil {
		if !errors.Is(err, ErrStorageFull) {
			t.log.Error("the storage cannot make room for a piece", "piece", i, "err", err)
		}
		return false
	}
	return true
}

// pushDemand hands the storage what the readers want now, for its
// eviction. Called with t.mu held, whenever reads or windows change.
func (t *Torrent) pushDemand() {
	if t.capPieces == 0 {
		return // nothing is ever evicted
	}
	var reads, windows [][2]int
	behind := len(t.state)
	for r := range t.readers {
		if r.pos < 0 {
			continue // has not read yet
		}
		at := len(t.state) - 1
		if r.pos < t.info.Length {
			at = int(r.pos / t.info.PieceLength)
		}
		for _, u := range r.reads {
			reads = append(reads, u)
			at = min(at, u[0])
		}
		if r.ahead[0] <= r.ahead[1] {
			windows = append(windows, r.ahead)
			at = min(at, r.ahead[0])
		}
		behind = min(behind, at)
	}
	t.st.SetDemand(reads, windows, behind)
}

// windowPieces is the most pieces one reader's readahead may span: the
// readers' windows together take at most half the storage's capacity,
// the rest being for reads in flight and pieces behind them. A capacity
// shared with other torrents (SharedStorage) is divided equally among
// those with readers. -1 means no limit. Called with t.mu held.
func (t *Torrent) windowPieces() int {
	if t.capPieces == 0 {
		return -1
	}
	readers := 0
	for r := range t.readers {
		if r.pos >= 0 {
			readers++
		}
	}
	if ss, ok := t.st.(SharedStorage); ok {
		readers *= 1 + ss.OtherReaders()
	}
	return t.capPieces / 2 / max(readers, 1)
}

// checkReads fails a read at once when the storage cannot hold even one
// piece per read in flight: the piece each needs next. Called with t.mu
// held.
func (t *Torrent) checkReads() error {
	if t.capPieces == 0 {
		return nil
	}
	next := map[int]bool{}
	for r := range t.readers {
		for _, u := range r.reads {
			next[u[0]] = true
		}
	}
	if len(next) <= t.capPieces {
		return nil
	}
	err := fmt.Errorf("%w: a cache budget of %s holds %d pieces of %s, fewer than the %d reads in flight need at once; raise the cache size",
		ErrStorageFull, bytesize.Format(t.st.Capacity()), t.capPieces, bytesize.Format(t.info.PieceLength), len(next))
	t.log.Error("read failed: the cache budget is too small", "budget", t.st.Capacity(), "piece_size", t.info.PieceLength, "reads", len(next))
	return err
}

// checkCapacity refuses a storage that evicts with a budget below
// MinCapacityPieces pieces (or the whole torrent, if smaller).
func checkCapacity(st Storage, pieceLength, length int64) error {
	c := st.Capacity()
	if c == 0 {
		return nil
	}
	least := min(MinCapacityPieces*pieceLength, length)
	if c < least {
		return fmt.Errorf("%w: a cache budget of %s is below the minimum of %s (%d pieces of %s); raise the cache size",
			ErrStorageFull, bytesize.Format(c), bytesize.Format(least), MinCapacityPieces, bytesize.Format(pieceLength))
	}
	return nil
}

// told is what one peer has been told we have (bitfield and have
// messages), kept when the storage cannot hold every piece.
type told struct {
	bits wire.Bits
	n    int
}

// noteGreeting records the pieces the greeting just sent to p announced.
// Called with t.mu held, right after p.sendGreeting.
func (t *Torrent) noteGreeting(p *peer) {
	if t.capPieces == 0 {
		return
	}
	k := &told{bits: wire.NewBits(len(t.state))}
	for i, s := range t.state {
		if s == pieceHave {
			k.bits.Set(i)
			k.n++
		}
	}
	t.told[p] = k
}

// announceHave tells every peer that piece i is now held. A storage that
// cannot hold every piece evicts some as others arrive, but BitTorrent has
// no message to take a have back: a peer told of every piece in turn
// would think us a seed, and a seed closes connections to seeds. So the
// last piece a peer has not heard of is kept from it; it only costs that
// peer one piece it could have had from us. Called with t.mu held.
func (t *Torrent) announceHave(i int) {
	for p := range t.peers {
		if k := t.told[p]; k != nil && !k.bits.Has(i) {
			if k.n+1 >= len(t.state) {
				continue
			}
			k.bits.Set(i)
			k.n++
		}
		p.queue(func(b []byte) []byte { return wire.AppendIndex(b, wire.Have, uint32(i)) })
	}
}
