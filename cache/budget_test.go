package cache

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBudgetProperty runs random downloads, failures, discards and reads
// over many pieces with a small budget, and checks after every step that
// both the accounting and the real disk use (st_blocks) stay within it.
func TestBudgetProperty(t *testing.T) {
	// A piece length that is not a multiple of the block size and odd file
	// sizes make neighbouring pieces share blocks.
	tt := newTorrent(t, 10, 10_000,
		testFile{name: "a", length: 333_333},
		testFile{name: "pad", length: 6_667, pad: true},
		testFile{name: "b", length: 500_001},
		testFile{name: "c", length: 4_097},
		testFile{name: "d", length: 200_000},
	)
	dir := t.TempDir()
	const budget = 96 << 10
	c := open(t, tt, Options{Dir: dir, Budget: budget})
	n := tt.info.NumPieces()
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(step int, what string) {
		t.Helper()
		st := c.Stats()
		queued := c.queuedHoles()
		du := diskUsage(t, dir)
		if st.Used > budget || du > budget || du > st.Used+queued {
			t.Fatalf("step %d (%s): budget %d, accounted %d, holes queued %d, on disk %d", step, what, budget, st.Used, queued, du)
		}
		// Once the punch worker caught up, the disk holds no more than
		// what is charged.
		c.drainPunches()
		if du := diskUsage(t, dir); du > budget || du > st.Used {
			t.Fatalf("step %d (%s): budget %d, accounted %d, on disk %d once punched", step, what, budget, st.Used, du)
		}
	}
	var evictions int64
	for step := range 1500 {
		p := rng.IntN(n)
		switch op := rng.IntN(10); {
		case op < 5: // download
			if err := writePiece(c, p, tt.piece(p), 4096); err != nil {
				t.Fatalf("step %d: writing piece %d: %v", step, p, err)
			}
			check(step, "write")
			if ok, err := c.Verify(p); !ok || err != nil {
				t.Fatalf("step %d: Verify(%d) = %v, %v", step, p, ok, err)
			}
		case op < 6: // a peer sends garbage
			bad := bytes.Clone(tt.piece(p))
			bad[rng.IntN(len(bad))] ^= 0xff
			if err := writePiece(c, p, bad, 4096); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			if ok, _ := c.Verify(p); ok && !c.Have(p) {
				t.Fatalf("step %d: corrupt piece %d verified", step, p)
			}
		case op < 7: // abandoned half way
			if err := c.WriteBlock(p, 0, tt.piece(p)[:tt.info.PieceSize(p)/2]); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			check(step, "partial")
			c.Discard(p)
		default: // read whatever is there
			off := rng.Int64N(tt.info.Length)
			b := make([]byte, min(rng.Int64N(30_000)+1, tt.info.Length-off))
			nr, err := c.ReadAt(b, off)
			switch {
			case isNotVerified(err):
			case err != nil:
				t.Fatalf("step %d: ReadAt: %v", step, err)
			case !bytes.Equal(b[:nr], tt.data[off:off+int64(nr)]):
				t.Fatalf("step %d: ReadAt(%d) returned wrong bytes", step, off)
			}
		}
		check(step, "after")
		checkInvariants(t, c)
		evictions = c.Stats().Evictions
	}
	if evictions == 0 {
		t.Fatal("the budget never forced an eviction; the test proves nothing")
	}
	// Whatever is verified now reads back correctly.
	for p := range n {
		if c.Have(p) {
			checkRead(t, c, tt, tt.info.PieceOffset(p), tt.info.PieceSize(p))
		}
	}
}

// TestPinnedPiecesSurviveEviction holds a read open on one piece while
// other pieces push for room.
func TestPinnedPiecesSurviveEviction(t *testing.T) {
	tt := newTorrent(t, 11, 16<<10, testFile{name: "x", length: 40 * 16 << 10})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 4 * 16 << 10})
	for p := range 4 {
		download(t, c, tt, p)
	}
	// A read in progress on piece 0, the least recently used.
	if err := c.pin(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.pin(0, 4); !isNotVerified(err) {
		t.Fatalf("pin over a missing piece: %v, want ErrNotVerified", err)
	}
	for p := 4; p < 20; p++ {
		download(t, c, tt, p)
		if !c.Have(0) {
			t.Fatalf("pinned piece 0 evicted while downloading piece %d", p)
		}
	}
	c.unpin(0, 0)
	checkInvariants(t, c)
	checkRead(t, c, tt, 0, 16<<10)
	// Unpinned, it is an ordinary piece again: four newer pieces push it out.
	for p := 20; p < 24; p++ {
		download(t, c, tt, p)
	}
	if c.Have(0) {
		t.Fatal("piece 0 was not evicted once unpinned")
	}
}

// TestReadMarksRecentlyUsed checks that eviction order follows reads.
func TestReadMarksRecentlyUsed(t *testing.T) {
	tt := newTorrent(t, 12, 16<<10, testFile{name: "x", length: 10 * 16 << 10})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 3 * 16 << 10})
	for p := range 3 {
		download(t, c, tt, p)
	}
	checkRead(t, c, tt, 0, 100) // piece 0 becomes the most recent
	download(t, c, tt, 3)
	if !c.Have(0) || c.Have(1) {
		t.Fatalf("after reading piece 0, eviction took the wrong piece: have0=%v have1=%v", c.Have(0), c.Have(1))
	}
}

// TestBudgetSmallerThanWorkingSet: the pieces in use fill the budget, so
// a new piece gets ErrBudget at once rather than waiting forever.
func TestBudgetSmallerThanWorkingSet(t *testing.T) {
	tt := newTorrent(t, 13, 16<<10, testFile{name: "x", length: 10 * 16 << 10})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 2 * 16 << 10})
	for p := range 2 {
		if err := c.WriteBlock(p, 0, tt.piece(p)[:100]); err != nil {
			t.Fatal(err)
		}
	}
	err := c.WriteBlock(2, 0, tt.piece(2)[:100])
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "raise the cache size") {
		t.Fatalf("WriteBlock beyond the working set: %v; want ErrBudget with advice", err)
	}
	if c.Stats().Used > 2*16<<10 {
		t.Fatalf("Used %d exceeds the budget", c.Stats().Used)
	}
	c.Discard(0)
	if err := c.WriteBlock(2, 0, tt.piece(2)[:100]); err != nil {
		t.Fatalf("WriteBlock after room was freed: %v", err)
	}

	if _, err := Open(tt.info, Options{Dir: t.TempDir(), Budget: 1000}); !errors.Is(err, ErrBudget) {
		t.Fatalf("Open with a budget below one piece: %v, want ErrBudget", err)
	}
}

// TestBudgetErrorEvictsNothing: when eviction cannot make room, nothing is
// evicted for nothing.
func TestBudgetErrorEvictsNothing(t *testing.T) {
	tt := newTorrent(t, 14, 16<<10, testFile{name: "x", length: 3*16<<10 + 4096})
	c := open(t, tt, Options{Dir: t.TempDir(), Budget: 2*16<<10 + 4096})
	download(t, c, tt, 3) // the 4 KiB last piece, evictable
	for p := range 2 {
		if err := c.WriteBlock(p, 0, tt.piece(p)[:100]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteBlock(2, 0, tt.piece(2)[:100]); !errors.Is(err, ErrBudget) {
		t.Fatalf("WriteBlock: %v, want ErrBudget", err)
	}
	if !c.Have(3) || c.Stats().Evictions != 0 {
		t.Fatal("a piece was evicted although that could not make room")
	}
	checkInvariants(t, c)
}

// checkInvariants recomputes the cache's counters from the piece states.
func checkInvariants(t testing.TB, c *Cache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var used, evictable int64
	var verified, unproven int
	for p, pc := range c.pieces {
		if pc.state.present() {
			used += c.footprint[p]
		}
		inLRU := c.lru.Contains(p)
		if inLRU && pc.pins == 0 {
			evictable += c.footprint[p]
		}
		wantLRU := pc.state == stateVerified || pc.state == stateUnproven
		if inLRU != wantLRU {
			t.Fatalf("piece %d (state %d, pins %d): in LRU %v", p, pc.state, pc.pins, inLRU)
		}
		switch pc.state {
		case stateVerified:
			verified++
		case stateUnproven:
			unproven++
		}
	}
	if used != c.used || evictable != c.evictable || verified != c.verified || unproven != c.unproven {
		t.Fatalf("counters used %d evictable %d verified %d unproven %d; recomputed %d %d %d %d",
			c.used, c.evictable, c.verified, c.unproven, used, evictable, verified, unproven)
	}
}

// TestKeepBudget: Keep leaves the files sparse, reports no capacity,
// keeps every piece and refuses other negative budgets.
func TestKeepBudget(t *testing.T) {
	tt := newTorrent(t, 12, 16<<10, testFile{name: "a", length: 8 * 16 << 10})
	dir := t.TempDir()
	c := open(t, tt, Options{Dir: dir, Budget: Keep})
	if du := diskUsage(t, dir); du != 0 {
		t.Fatalf("Keep preallocated %d bytes", du)
	}
	if c.Capacity() != 0 {
		t.Fatalf("Capacity = %d, want 0 (keeps everything)", c.Capacity())
	}
	for p := range tt.info.NumPieces() {
		download(t, c, tt, p)
	}
	if st := c.Stats(); st.Evictions != 0 || st.Verified != tt.info.NumPieces() || st.Budget != 0 {
		t.Fatalf("Stats = %+v, want every piece kept and budget 0", st)
	}
	if _, err := Open(tt.info, Options{Dir: t.TempDir(), Budget: -2}); err == nil {
		t.Fatal("Open accepted a budget of -2")
	}
}
