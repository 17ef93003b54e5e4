package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// pooledCaches opens n caches of different torrents sharing a pool of
// the given number of 64 KiB pieces, and records their evictions.
func pooledCaches(t *testing.T, n, pieces int) (*Pool, []*Cache, []*torrent, *evictLog, string) {
	t.Helper()
	const pieceLen = 64 << 10
	pl, err := NewPool(int64(pieces) * pieceLen)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ev := &evictLog{}
	var cs []*Cache
	var tts []*torrent
	for i := range n {
		tt := newTorrent(t, uint64(50+i), pieceLen, testFile{name: "a", length: 16 * pieceLen})
		c := open(t, tt, Options{Dir: filepath.Join(dir, fmt.Sprint(i)), Pool: pl})
		c.OnEvict(func(p int) { ev.add(i, p) })
		cs = append(cs, c)
		tts = append(tts, tt)
	}
	return pl, cs, tts, ev, dir
}

type evictLog struct {
	mu  sync.Mutex
	got [][2]int // cache, piece
}

func (e *evictLog) add(c, p int) {
	e.mu.Lock()
	e.got = append(e.got, [2]int{c, p})
	e.mu.Unlock()
}

func (e *evictLog) take() [][2]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

// checkPool checks that the pool's charge is the sum of its caches', and
// within the budget, and once the holes are punched so is the disk.
func checkPool(t *testing.T, pl *Pool, cs []*Cache, dir string, step int) {
	t.Helper()
	var sum int64
	for _, c := range cs {
		checkInvariants(t, c)
		sum += c.Stats().Used
	}
	if pl.Used() != sum || sum > pl.Budget() {
		t.Fatalf("step %d: pool charges %d, the caches %d, budget %d", step, pl.Used(), sum, pl.Budget())
	}
	for _, c := range cs {
		c.drainPunches()
	}
	if du := diskUsage(t, dir); du > pl.Budget() {
		t.Fatalf("step %d: %d bytes on disk, over the shared budget %d", step, du, pl.Budget())
	}
}

// TestPoolIsOneLRU: three caches sharing a budget of 6 pieces evict, in
// whichever cache needs room, the piece least recently used in any of
// them, and together never hold more than the budget.
func TestPoolIsOneLRU(t *testing.T) {
	pl, cs, tts, ev, dir := pooledCaches(t, 3, 6)
	rng := rand.New(rand.NewPCG(3, 4))
	var model [][2]int // held pieces, least recently used first
	use := func(k [2]int) {
		model = slices.DeleteFunc(model, func(m [2]int) bool { return m == k })
		model = append(model, k)
	}
	evictions := 0
	for step := range 400 {
		k := [2]int{rng.IntN(len(cs)), rng.IntN(tts[0].info.NumPieces())}
		c, tt := cs[k[0]], tts[k[0]]
		if c.Have(k[1]) {
			checkRead(t, c, tt, tt.info.PieceOffset(k[1]), tt.info.PieceSize(k[1]))
			use(k)
		} else {
			download(t, c, tt, k[1])
			for _, e := range ev.take() {
				if len(model) == 0 || model[0] != e {
					t.Fatalf("step %d: evicted %v; the least recently used of all was %v", step, e, model[:1])
				}
				model = model[1:]
				evictions++
			}
			use(k)
		}
		checkPool(t, pl, cs, dir, step)
	}
	if evictions < 100 {
		t.Fatalf("only %d evictions; the test proves little", evictions)
	}
	// Every piece the model holds is still readable.
	for _, k := range model {
		checkRead(t, cs[k[0]], tts[k[0]], tts[k[0]].info.PieceOffset(k[1]), tts[k[0]].info.PieceSize(k[1]))
	}
}

// TestPoolRespectsReadersOfOtherCaches: room for a piece of one cache
// is never taken from another cache's readahead window while pieces
// nobody wants are held anywhere; when nothing else is left, a piece
// nobody wants fails with ErrBudget rather than taking the window.
func TestPoolRespectsReadersOfOtherCaches(t *testing.T) {
	pl, cs, tts, ev, dir := pooledCaches(t, 3, 6)
	a, b, c := cs[0], cs[1], cs[2]
	// a holds 0..3 for a reader at 0 with a window over 1..3; b holds 0,
	// 1; both of b's are older than a's window pieces, c's newer.
	for p := range 4 {
		download(t, a, tts[0], p)
	}
	download(t, b, tts[1], 0)
	download(t, b, tts[1], 1)
	a.SetDemand(nil, [][2]int{{1, 3}}, 1)
	// c needs room three times: a's piece 0, behind its reader, and b's
	// two, which no reader wants (b has none), go before any of a's
	// window pieces, though those are older than b's.
	for p := range 3 {
		download(t, c, tts[2], p)
	}
	got := ev.take()
	want := [][2]int{{0, 0}, {1, 0}, {1, 1}}
	slices.SortFunc(got, func(x, y [2]int) int { return x[0]*100 + x[1] - y[0]*100 - y[1] })
	if !slices.Equal(got, want) {
		t.Fatalf("evicted %v, want %v (never a's window 1..3)", got, want)
	}
	checkPool(t, pl, cs, dir, 0)
	// Now only a's window (3 pieces) and c's 3 pieces are held: c's own
	// pieces, least recently used first, go before the window.
	download(t, c, tts[2], 3)
	if got := ev.take(); !slices.Equal(got, [][2]int{{2, 0}}) {
		t.Fatalf("evicted %v, want c's piece 0", got)
	}
	// Pin c's pieces with reads in flight: a piece of b, wanted by
	// nobody, may not take a's window.
	if err := c.pin(1, 3); err != nil {
		t.Fatal(err)
	}
	defer c.unpin(1, 3)
	if err := b.Reserve(5); !isBudget(err) {
		t.Fatalf("Reserve with only another cache's window evictable = %v, want ErrBudget", err)
	}
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("a failed reserve evicted %v", got)
	}
	checkPool(t, pl, cs, dir, 1)
}

// TestPoolConcurrent: the caches of a pool download and read at once
// from several goroutines; the sum stays within the budget and nothing
// deadlocks.
func TestPoolConcurrent(t *testing.T) {
	pl, cs, tts, _, dir := pooledCaches(t, 3, 8)
	var wg sync.WaitGroup
	for i := range cs {
		for g := range 2 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), uint64(g)))
				c, tt := cs[i], tts[i]
				for range 150 {
					// Each goroutine its own pieces: one could
					// otherwise verify, and lose to eviction, a piece
					// the other is about to verify.
					p := 2*rng.IntN(tt.info.NumPieces()/2) + g
					if err := writePiece(c, p, tt.piece(p), 16<<10); err != nil {
						if !isBudget(err) {
							t.Error(err)
							return
						}
						continue
					}
					if _, err := c.Verify(p); err != nil {
						t.Error(err)
						return
					}
					b := make([]byte, 1000)
					if _, err := c.ReadAt(b, tt.info.PieceOffset(p)); err != nil && !isNotVerified(err) {
						t.Error(err)
						return
					}
					if pl.Used() > pl.Budget() {
						t.Errorf("pool charges %d, over the budget %d", pl.Used(), pl.Budget())
						return
					}
				}
			})
		}
	}
	wg.Wait()
	checkPool(t, pl, cs, dir, 0)
	// A closed member's charge leaves the pool.
	if err := cs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := pl.Used(), cs[1].Stats().Used+cs[2].Stats().Used; got != want {
		t.Fatalf("after closing one cache the pool charges %d, want the other two's %d", got, want)
	}
}

func isBudget(err error) bool { return errors.Is(err, ErrBudget) }

// TestPoolOtherReaders: a member counts the other members whose demand
// has reads or windows, so the engine can share the readahead budget.
func TestPoolOtherReaders(t *testing.T) {
	_, cs, _, _, _ := pooledCaches(t, 3, 8)
	for i, c := range cs {
		if n := c.OtherReaders(); n != 0 {
			t.Fatalf("cache %d: %d other readers before any demand", i, n)
		}
	}
	cs[0].SetDemand([][2]int{{0, 0}}, nil, 0)
	cs[1].SetDemand(nil, [][2]int{{2, 5}}, 0)
	for i, want := range []int{1, 1, 2} {
		if n := cs[i].OtherReaders(); n != want {
			t.Errorf("cache %d: %d other readers, want %d", i, n, want)
		}
	}
	cs[1].SetDemand(nil, nil, 16) // its reader closed
	if n := cs[2].OtherReaders(); n != 1 {
		t.Errorf("after one reader left: %d other readers, want 1", n)
	}
	if err := cs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if n := cs[2].OtherReaders(); n != 0 {
		t.Errorf("after the reading cache closed: %d other readers, want 0", n)
	}
	var own Cache
	if n := own.OtherReaders(); n != 0 {
		t.Errorf("a cache outside a pool: %d other readers", n)
	}
}

// TestReserveWithRoomAllocatesNothing: a reservation that evicts nothing,
// the usual one under a budget with room left, allocates nothing, in a
// cache of its own and in a pool: the engine reserves with its lock held.
func TestReserveWithRoomAllocatesNothing(t *testing.T) {
	tt := newTorrent(t, 60, 16<<10, testFile{name: "a", length: 1024 * 16 << 10})
	pl, err := NewPool(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, opts := range map[string]Options{
		"own":  {Dir: filepath.Join(dir, "own"), Budget: 15 << 20},
		"pool": {Dir: filepath.Join(dir, "pool"), Pool: pl},
	} {
		c := open(t, tt, opts)
		p := 0
		n := testing.AllocsPerRun(100, func() {
			if err := c.Reserve(p); err != nil {
				t.Fatal(err)
			}
			p++
		})
		if ev := c.Stats().Evictions; ev != 0 {
			t.Fatalf("%s: %d evictions; the test wants room", name, ev)
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per Reserve with room", name, n)
		}
	}
}
