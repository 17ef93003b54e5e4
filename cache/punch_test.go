package cache

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// stallPuncher holds the punch worker before its next batch until the
// returned function is called (also at the end of the test).
func stallPuncher(t *testing.T, c *Cache) (release func()) {
	t.Helper()
	ch := make(chan struct{})
	var once atomic.Bool
	release = func() {
		if once.CompareAndSwap(false, true) {
			close(ch)
		}
	}
	c.punchQ.mu.Lock()
	c.punchQ.stall = func() { <-ch }
	c.punchQ.mu.Unlock()
	t.Cleanup(release)
	return release
}

// TestQueuedHoleSparesRereservedNeighbour: a hole queued for a dropped
// piece covers a block it shares with a neighbour; the neighbour reserved
// while the hole waits for the worker must not have its bytes punched.
func TestQueuedHoleSparesRereservedNeighbour(t *testing.T) {
	// 10,000-byte pieces share a 4 KiB block with each neighbour.
	tt := newTorrent(t, 41, 10_000, testFile{name: "a", length: 100_000})
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir, Budget: 64 << 10})
	if c.blockSize != 4096 {
		t.Skipf("block size %d: the pieces may not share blocks", c.blockSize)
	}
	release := stallPuncher(t, c)
	// Piece 1 is dropped while both neighbours are missing: its hole,
	// [8192, 20480), takes the block piece 2 starts in.
	if err := c.WriteBlock(1, 0, tt.piece(1)); err != nil {
		t.Fatal(err)
	}
	c.Discard(1)
	if c.queuedHoles() == 0 {
		t.Fatal("the dropped piece queued no hole")
	}
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		err := writePiece(c, 2, tt.piece(2), 4096)
		ok := false
		if err == nil {
			ok, err = c.Verify(2)
		}
		done <- result{ok, err}
	}()
	// Wait for piece 2's reservation: it must then wait for the hole.
	for {
		c.mu.Lock()
		st, wait := c.pieces[2].state, c.pieces[2].punchWait
		c.mu.Unlock()
		if st == stateWriting {
			if wait <= c.punchQ.done.Load() {
				t.Fatalf("piece 2 was reserved over a queued hole without waiting for it (wait %d, done %d)", wait, c.punchQ.done.Load())
			}
			break
		}
		select {
		case r := <-done:
			t.Fatalf("piece 2's write ended (%v, %v) before it was reserved", r.ok, r.err)
		default:
		}
		runtime.Gosched()
	}
	select {
	case r := <-done:
		t.Fatalf("piece 2 was written and verified (%v, %v) while a hole over it was still queued", r.ok, r.err)
	default:
	}
	release()
	if r := <-done; !r.ok || r.err != nil {
		t.Fatalf("Verify(2) = %v, %v", r.ok, r.err)
	}
	c.drainPunches()
	checkRead(t, c, tt, tt.info.PieceOffset(2), tt.info.PieceSize(2))
	if du, st := diskUsage(t, dir), c.Stats(); du > st.Used {
		t.Fatalf("on disk %d, accounted %d", du, st.Used)
	}
}

// TestPunchQueueKeepsDiskWithinBudget: with the punch worker stalled,
// reservations stop once the bytes charged plus the holes queued would
// pass the budget, so the disk never holds more than the budget; once
// the worker runs, the download goes on.
func TestPunchQueueKeepsDiskWithinBudget(t *testing.T) {
	// 7 pieces evict no more than they need; 32 evict 4 ahead.
	for _, pieces := range []int64{7, 32} {
		t.Run(fmt.Sprintf("budget%d", pieces), func(t *testing.T) { testPunchQueueBudget(t, pieces) })
	}
}

func testPunchQueueBudget(t *testing.T, pieces int64) {
	const pieceLen = 64 << 10
	tt := newTorrent(t, 42, pieceLen, testFile{name: "a", length: 64 * pieceLen})
	dir := t.TempDir()
	budget := pieces * pieceLen
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	if want := min(pieces/8, max(headroomBytes/pieceLen, headroomPieces)) * pieceLen; c.punchQ.max != want {
		t.Fatalf("headroom %d, want %d", c.punchQ.max, want)
	}
	release := stallPuncher(t, c)
	n := tt.info.NumPieces()
	errc := make(chan error, 1)
	go func() {
		for p := range n {
			if err := writePiece(c, p, tt.piece(p), 16<<10); err != nil {
				errc <- err
				return
			}
			if _, err := c.Verify(p); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	// The writer must end up waiting for the worker.
	for {
		c.punchQ.mu.Lock()
		waiting := c.punchQ.waiters
		c.punchQ.mu.Unlock()
		if waiting > 0 {
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("all %d pieces went through a budget of %d pieces with no hole punched (err %v): nothing waits for the punches", n, pieces, err)
		default:
		}
		runtime.Gosched()
	}
	queued, st := c.queuedHoles(), c.Stats()
	if queued == 0 {
		t.Fatal("the writer waits with no hole queued")
	}
	if du := diskUsage(t, dir); du > budget || du > st.Used+queued {
		t.Fatalf("on disk %d with %d charged and %d queued: over the budget %d", du, st.Used, queued, budget)
	}
	release()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.drainPunches()
	if du := diskUsage(t, dir); du > budget {
		t.Fatalf("on disk %d once punched, over the budget %d", du, budget)
	}
	for p := n - 4; p < n; p++ {
		checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
	}
}

// TestReserveLeavesPunchWaitToTheWrite: with the punch worker stalled, a
// reservation that evicts returns at once (the engine reserves with its
// own lock held); the piece's first write is what waits for the holes,
// so the disk still never holds more than the budget.
func TestReserveLeavesPunchWaitToTheWrite(t *testing.T) {
	const pieceLen = 64 << 10
	tt := newTorrent(t, 43, pieceLen, testFile{name: "a", length: 32 * pieceLen})
	dir := t.TempDir()
	// Under 8 pieces nothing is evicted ahead: the budget is full.
	budget := int64(7 * pieceLen)
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	if c.punchQ.max != 0 {
		t.Fatalf("headroom %d, want 0", c.punchQ.max)
	}
	for p := range 7 {
		download(t, c, tt, p)
	}
	release := stallPuncher(t, c)
	waiting := func() bool {
		c.punchQ.mu.Lock()
		defer c.punchQ.mu.Unlock()
		return c.punchQ.waiters > 0
	}
	reserved := make(chan error, 1)
	go func() { reserved <- c.Reserve(7) }()
	for done := false; !done; {
		select {
		case err := <-reserved:
			if err != nil {
				t.Fatalf("Reserve(7) = %v", err)
			}
			done = true
		default:
			if waiting() {
				t.Fatal("Reserve waits for the punch worker")
			}
			runtime.Gosched()
		}
	}
	if c.queuedHoles() == 0 {
		t.Fatal("Reserve(7) on a full budget queued no hole")
	}
	written := make(chan error, 1)
	go func() { written <- writePiece(c, 7, tt.piece(7), 16<<10) }()
	for !waiting() {
		select {
		case err := <-written:
			t.Fatalf("piece 7 was written (%v) over a full disk while its room was still to punch", err)
		default:
			runtime.Gosched()
		}
	}
	if du := diskUsage(t, dir); du > budget {
		t.Fatalf("on disk %d, over the budget %d", du, budget)
	}
	release()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Verify(7); !ok || err != nil {
		t.Fatalf("Verify(7) = %v, %v", ok, err)
	}
	c.drainPunches()
	if du := diskUsage(t, dir); du > budget {
		t.Fatalf("on disk %d once punched, over the budget %d", du, budget)
	}
	checkRead(t, c, tt, tt.info.PieceOffset(7), tt.info.PieceSize(7))
}

// TestPunchesInBatches: reading through a torrent larger than the
// budget, the punch worker waits for half the headroom's worth of holes
// and punches each batch of consecutive evicted pieces in one fallocate,
// instead of one per eviction; a caller waiting for the queue still gets
// the holes punched at once.
func TestPunchesInBatches(t *testing.T) {
	tt := newTorrent(t, 43, 16<<10, testFile{name: "a", length: 2 << 20})
	dir := t.TempDir()
	const budget = 512 << 10
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	if c.blockSize > 16<<10 {
		t.Skipf("block size %d: pieces do not fill whole blocks", c.blockSize)
	}
	// An eighth of the budget is evicted ahead: 4 pieces, punched 2 at a
	// time.
	if c.punchQ.max != 64<<10 || c.punchQ.batch != 32<<10 {
		t.Fatalf("headroom %d, batch %d; want 64 KiB and 32 KiB", c.punchQ.max, c.punchQ.batch)
	}
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
	}
	c.drainPunches()
	evictions := c.Stats().Evictions
	if evictions < 64 {
		t.Fatalf("%d evictions; want at least 64", evictions)
	}
	if calls := c.punchQ.calls.Load(); calls > evictions/2+1 {
		t.Errorf("%d fallocate calls for %d evictions; want at most one per batch of 2", calls, evictions)
	}
	if du := diskUsage(t, dir); du > budget || du > c.Stats().Used {
		t.Fatalf("on disk %d, accounted %d, budget %d once punched", du, c.Stats().Used, budget)
	}
	// A piece dropped alone queues less than a batch: a waiter has it
	// punched all the same. (The reservation may evict ahead a batch
	// of its own, which the worker is held from punching, with the
	// dropped piece's hole, before it is seen queued.)
	release := stallPuncher(t, c)
	if err := c.Reserve(0); err != nil {
		t.Fatal(err)
	}
	c.Discard(0)
	if c.queuedHoles() == 0 {
		t.Fatal("the dropped piece queued no hole")
	}
	release()
	c.drainPunches()
	if q := c.queuedHoles(); q != 0 {
		t.Fatalf("%d bytes of holes still queued after drainPunches", q)
	}
}
