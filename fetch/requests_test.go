package fetch

import (
	"bytes"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

func TestRequestQueue(t *testing.T) {
	reqs := map[uint64]int64{}
	var s requestQueue
	now := int64(1) // unix nanos, moved by the test
	send := func(keys ...uint64) {
		for _, k := range keys {
			reqs[k] = s.push(reqs, k)
		}
	}
	answer := func(k uint64) []uint64 {
		t.Helper()
		seq, ok := reqs[k]
		if !ok {
			t.Fatalf("answer to %d, which is not in flight", k)
		}
		delete(reqs, k)
		lost := s.answered(reqs, seq, now, nil)
		for _, l := range lost {
			delete(reqs, l)
		}
		return lost
	}
	overdue := func() []uint64 {
		lost := s.overdue(reqs, now, nil)
		for _, l := range lost {
			delete(reqs, l)
		}
		return lost
	}
	ms := int64(time.Millisecond)

	// In order: nothing is lost and nothing is kept.
	send(1, 2, 3)
	for _, k := range []uint64{1, 2, 3} {
		if lost := answer(k); lost != nil {
			t.Fatalf("answers in order lost %v", lost)
		}
	}
	if len(s.q) != 0 {
		t.Fatalf("%d requests kept after every answer", len(s.q))
	}

	// Out of order within the grace: no loss, however many pass it.
	send(10, 11, 12, 13, 14, 15)
	for _, k := range []uint64{15, 14, 13, 12, 11} {
		now += ms
		if lost := answer(k); lost != nil {
			t.Fatalf("answer to %d lost %v", k, lost)
		}
	}
	now += 100 * ms
	if lost := overdue(); lost != nil {
		t.Fatalf("lost %v within the grace", lost)
	}
	answer(10) // 105 ms late: the grace for this peer is now 420 ms

	// Passed over and still missing after the grace: lost, once.
	send(20, 21, 22)
	answer(21)
	now += 300 * ms
	answer(22)
	if lost := overdue(); lost != nil {
		t.Fatalf("lost %v within the grace the peer's lag earned", lost)
	}
	now += 200 * ms
	if lost := overdue(); !slices.Equal(lost, []uint64{20}) {
		t.Fatalf("lost %v, want [20]", lost)
	}
	if lost := overdue(); lost != nil {
		t.Fatalf("lost %v again", lost)
	}
	if len(s.q) != 0 {
		t.Fatalf("%d requests kept after every answer", len(s.q))
	}

	// Only requests sent before an answered one are passed over.
	send(30, 31)
	answer(30)
	now += time.Hour.Nanoseconds()
	if lost := overdue(); lost != nil {
		t.Fatalf("lost %v, which nothing passed", lost)
	}
	answer(31)

	// A block asked for again is judged by its new request.
	send(40, 41)
	reqs[40] = s.push(reqs, 40)
	send(42)
	answer(41)
	now += time.Hour.Nanoseconds()
	if lost := overdue(); lost != nil {
		t.Fatalf("lost %v, but 40 was asked again after the answered block", lost)
	}
	answer(40)
	answer(42)
	if len(s.q) != 0 {
		t.Fatalf("%d requests kept after every answer", len(s.q))
	}

	// Requests withdrawn without an answer (rejects, cancels) do not
	// pile up.
	for k := range uint64(10000) {
		send(k)
		delete(reqs, k)
	}
	if len(s.q) > 100 {
		t.Fatalf("%d withdrawn requests kept", len(s.q))
	}

	// A choke that discards requests empties the queue.
	send(1, 2)
	clear(reqs)
	s.reset()
	if len(s.q) != 0 {
		t.Fatal("reset kept requests")
	}
}

// fakeSeed is a seeder run by the test: it has every piece, unchokes at
// once and serves requests in the order they came, except those drop
// says to ignore.
type fakeSeed struct {
	mi   *metainfo.MetaInfo
	data []byte
	fast bool
	reqq int // advertised in the extended handshake; 0 = none
	// drop is asked about every request, with how many requests are
	// queued before it: true = never served (nor rejected).
	drop func(r request, queued int) bool
	// pace is slept before each block, so that requests queue up.
	pace time.Duration

	mu        sync.Mutex
	times     map[request]int // how often each block was requested
	cancels   map[request]int // how often each request was cancelled
	maxQueued int             // most requests queued at once
}

func (f *fakeSeed) start(t *testing.T) string {
	t.Helper()
	f.times = map[request]int{}
	f.cancels = map[request]int{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				go func() {
					<-done
					conn.Close()
				}()
				f.serve(conn)
			})
		}
	})
	return ln.Addr().String()
}

func (f *fakeSeed) serve(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := wire.ReadHandshake(conn); err != nil {
		return
	}
	h := wire.Handshake{InfoHash: f.mi.InfoHash}
	h.Reserved.SetFast(f.fast)
	h.Reserved.SetExtended(f.reqq > 0)
	copy(h.PeerID[:], "-XX0001-fakeseed1234")
	if err := wire.WriteHandshake(conn, h); err != nil {
		return
	}
	var out []byte
	if f.reqq > 0 {
		eh := wire.ExtendedHandshake{V: "fake seed", Reqq: f.reqq}
		b, _ := eh.Encode()
		out = wire.AppendExtended(out, 0, b)
	}
	if f.fast {
		out = wire.AppendSimple(out, wire.HaveAll)
	} else {
		bits := wire.NewBits(f.mi.Info.NumPieces())
		for i := range f.mi.Info.NumPieces() {
			bits.Set(i)
		}
		out = wire.AppendBitfield(out, bits)
	}
	out = wire.AppendSimple(out, wire.Unchoke)
	if _, err := conn.Write(out); err != nil {
		return
	}

	// The reader queues requests; this goroutine serves them.
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	var queue []request
	closed := false
	go func() {
		defer func() {
			mu.Lock()
			closed = true
			cond.Signal()
			mu.Unlock()
		}()
		dec := wire.NewDecoder(conn, 64<<10)
		var m wire.Message
		for dec.Decode(&m) == nil {
			r := request{m.Index, m.Begin, m.Length}
			mu.Lock()
			switch m.ID {
			case wire.Request:
				f.mu.Lock()
				f.times[r]++
				f.maxQueued = max(f.maxQueued, len(queue)+1)
				f.mu.Unlock()
				if f.drop == nil || !f.drop(r, len(queue)) {
					queue = append(queue, r)
					cond.Signal()
				}
			case wire.Cancel:
				f.mu.Lock()
				f.cancels[r]++
				f.mu.Unlock()
				if k := slices.Index(queue, r); k >= 0 {
					queue = slices.Delete(queue, k, k+1)
				}
			}
			mu.Unlock()
		}
	}()
	for {
		mu.Lock()
		for len(queue) == 0 && !closed {
			cond.Wait()
		}
		if closed {
			mu.Unlock()
			return
		}
		mu.Unlock()
		time.Sleep(f.pace)
		mu.Lock()
		if len(queue) == 0 {
			mu.Unlock()
			continue
		}
		r := queue[0]
		queue = queue[1:]
		mu.Unlock()
		off := f.mi.Info.PieceOffset(int(r.index)) + int64(r.begin)
		if _, err := conn.Write(wire.AppendPiece(nil, r.index, r.begin, f.data[off:off+int64(r.length)])); err != nil {
			return
		}
	}
}

// requested returns how many times r was requested, and cancelled.
func (f *fakeSeed) requested(r request) (times, cancels int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.times[r], f.cancels[r]
}

// TestSkippedBlockIsAskedAgain: a seed that never answers one request
// (silently, or, with the fast extension, with no reject either) while it
// serves the requests after it: the block is asked for again soon after
// later ones arrive, long before the snub timeout would give it up. The
// seed skips the fifth block asked for, or the last but one, which at the
// end of the download only one block follows.
func TestSkippedBlockIsAskedAgain(t *testing.T) {
	const blocks = 64
	for _, tc := range []struct {
		name string
		fast bool
		nth  int // the new block asked for that is skipped, from 1
	}{
		{"bep3", false, 5},
		{"fast", true, 5},
		{"last but one", false, blocks - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mi, data := testTorrent(t, blocks*wire.BlockSize, 4*wire.BlockSize)
			var mu sync.Mutex
			seen := map[request]bool{}
			var skipped request
			f := &fakeSeed{mi: mi, data: data, fast: tc.fast, drop: func(r request, _ int) bool {
				mu.Lock()
				defer mu.Unlock()
				if seen[r] {
					return false
				}
				seen[r] = true
				if len(seen) == tc.nth {
					skipped = r
					return true
				}
				return false
			}}
			addr := f.start(t)
			c := newTestClient(t, Config{})
			st := newMemStorage(&mi.Info, nil)
			tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{addr}})
			waitComplete(t, tor, snubAfter*2/3)
			if !bytes.Equal(st.bytes(), data) {
				t.Fatal("data differs")
			}
			mu.Lock()
			r := skipped
			mu.Unlock()
			// The cancel would free the request's room in the queue of a
			// peer that still held it.
			if n, cancels := f.requested(r); n != 2 || cancels != 1 {
				t.Fatalf("the skipped block %+v was requested %d times and cancelled %d, want 2 and 1", r, n, cancels)
			}
			if s := tor.Stats(); s.Skipped != 1 || s.Rejected != 0 {
				t.Fatalf("stats count %d skipped and %d rejected requests, want 1 and 0", s.Skipped, s.Rejected)
			}
		})
	}
}

// TestRequestsStayBelowReqq: a seed like Transmission, which serves one
// request fewer than the reqq it advertises and drops the rest; torfs
// never has that many requests in flight.
func TestRequestsStayBelowReqq(t *testing.T) {
	mi, data := testTorrent(t, 4<<20, 256<<10)
	const reqq = 40
	var dropped sync.Map
	f := &fakeSeed{mi: mi, data: data, fast: true, reqq: reqq, pace: 200 * time.Microsecond,
		drop: func(r request, queued int) bool {
			if queued >= reqq-1 {
				dropped.Store(r, true)
				return true
			}
			return false
		}}
	addr := f.start(t)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{addr}})
	waitComplete(t, tor, 20*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
	f.mu.Lock()
	most := f.maxQueued
	f.mu.Unlock()
	if most >= reqq {
		t.Errorf("%d requests in flight at once, for a peer that takes %d", most, reqq)
	}
	if most < reqq/2 {
		t.Errorf("at most %d requests in flight: the pipeline never reached the peer's limit, so the test proves nothing", most)
	}
	dropped.Range(func(k, _ any) bool {
		t.Errorf("request %+v was over the peer's limit", k)
		return true
	})
}
