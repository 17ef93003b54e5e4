package fetch

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// readAll reads the whole torrent through r in reads of size n.
func readAll(t *testing.T, ctx context.Context, r *Reader, length int64, n int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, n)
	for off := int64(0); off < length; {
		got, err := r.ReadAt(ctx, buf, off)
		if got == 0 && err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		out = append(out, buf[:got]...)
		off += int64(got)
	}
	return out
}

// TestEvictionEndsCompletion: a session that held everything and lost a
// piece is no longer complete nor seeding: it fetches the piece again
// for a reader, from the seed it had stopped talking to.
func TestEvictionEndsCompletion(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{Peers: []string{seed.Addr().String()}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := tor.NewReader(ReaderOptions{})
	defer r.Close()
	if got := readAll(t, ctx, r, mi.Info.Length, 256<<10); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	waitComplete(t, tor, 10*time.Second)

	st.evict(3)
	// The report is applied by whoever takes the queue first: the
	// session's goroutine, or this.
	tor.mu.Lock()
	tor.takeEvictions()
	lost := !tor.isComplete && tor.haveCount == mi.Info.NumPieces()-1 && !tor.seeding()
	tor.mu.Unlock()
	if !lost {
		t.Fatal("the session did not take the eviction into account")
	}
	select {
	case <-tor.Complete():
		t.Fatal("Complete() is still closed after an eviction")
	default:
	}
	b := make([]byte, 1000)
	if _, err := r.ReadAt(ctx, b, 3*64<<10+5); err != nil || !bytes.Equal(b, data[3*64<<10+5:][:1000]) {
		t.Fatalf("reading the evicted piece again: %v", err)
	}
	waitComplete(t, tor, 10*time.Second)
}

// TestSmallCapacityStreams: a reader with the default 16 MiB readahead
// reads a torrent through a storage that holds 8 pieces, each piece
// fetched about once.
func TestSmallCapacityStreams(t *testing.T) {
	const pl = 32 << 10
	mi, data := testTorrent(t, 96*pl, pl)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.capacity = 8
	tor := addTorrent(t, c, mi, st, TorrentOptions{Peers: []string{seed.Addr().String()}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := tor.NewReader(ReaderOptions{})
	defer r.Close()
	if got := readAll(t, ctx, r, mi.Info.Length, 3*pl+100); !bytes.Equal(got, data) {
		t.Fatal("wrong bytes")
	}
	s := tor.Stats()
	if st.evicted == 0 {
		t.Error("nothing was evicted")
	}
	if ratio := float64(s.Downloaded) / float64(mi.Info.Length); ratio > 1.1 {
		t.Errorf("downloaded %d bytes for %d: %.2f times the torrent", s.Downloaded, mi.Info.Length, ratio)
	}
	select {
	case <-tor.Complete():
		t.Error("complete while the storage holds 8 pieces of 96")
	default:
	}
}

// TestCapacityBelowMinimum: a storage that cannot hold MinCapacityPieces
// pieces is refused, with the minimum in the message.
func TestCapacityBelowMinimum(t *testing.T) {
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.capacity = MinCapacityPieces - 1
	_, err := c.AddTorrent(context.Background(), mi, st, TorrentOptions{})
	if !errors.Is(err, ErrStorageFull) || !strings.Contains(err.Error(), "minimum of 256.0 KiB") {
		t.Fatalf("AddTorrent: %v; want ErrStorageFull naming the minimum", err)
	}
}

// TestTooManyReadsFailAtOnce: when the storage cannot hold one piece for
// each read in flight, the read that goes over fails at once.
func TestTooManyReadsFailAtOnce(t *testing.T) {
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.capacity = 4
	tor := addTorrent(t, c, mi, st, TorrentOptions{}) // no peers: reads wait
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 5)
	for k := range 5 {
		r := tor.NewReader(ReaderOptions{})
		defer r.Close()
		go func() {
			_, err := r.ReadAt(ctx, make([]byte, 10), int64(k)*3*64<<10)
			errs <- err
		}()
	}
	err := <-errs
	if !errors.Is(err, ErrStorageFull) || !strings.Contains(err.Error(), "64.0 KiB") {
		t.Fatalf("first read to end: %v; want ErrStorageFull naming the piece size", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the read did not fail at once")
	}
	cancel()
	for range 4 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("a read that fits: %v, want context.Canceled", err)
		}
	}
}

// TestHaveWithheldFromBecomingSeed: with a storage that cannot hold every
// piece, a peer is never told of every piece one have at a time, which
// would make it take us for a seed (and a seed drop us).
func TestHaveWithheldFromBecomingSeed(t *testing.T) {
	const n = 8
	tor := offlineTorrent(t, n, 16<<10, false)
	tor.capPieces = 4
	tor.told = map[*peer]*told{}
	p := offlinePeer(tor, true)
	tor.state[0] = pieceHave
	tor.noteGreeting(p) // its bitfield had piece 0
	for i := 1; i < n; i++ {
		tor.announceHave(i)
	}
	d := wire.NewDecoder(bytes.NewReader(p.out), 0)
	var haves []uint32
	for {
		var m wire.Message
		if d.Decode(&m) != nil {
			break
		}
		if m.ID == wire.Have {
			haves = append(haves, m.Index)
		}
	}
	if len(haves) != n-2 || haves[0] != 1 {
		t.Fatalf("sent haves %v; want pieces 1 to %d, the last one kept back", haves, n-2)
	}
}

// TestEvictedWhileBeingChecked: a piece the storage evicts between its
// check and the session recording it is missing, not held: the report
// came while the session could not count it.
func TestEvictedWhileBeingChecked(t *testing.T) {
	tor := offlineTorrent(t, 4, 16<<10, false)
	tor.verified = make(chan struct{})
	tor.complete = make(chan struct{})
	tor.state[2] = pieceHashing
	tor.onEvict(2) // Verify passed, then the storage evicted it
	tor.takeEvictions()
	tor.checked(hashJob{piece: 2}, true, nil)
	if tor.state[2] != pieceMissing || tor.haveCount != 0 {
		t.Fatalf("state %d, %d held; want the piece missing", tor.state[2], tor.haveCount)
	}
}

// TestFileReaderReadaheadStopsAtFileEnd: the readahead of a reader of one
// file never reaches past the file's last piece, however sequential its
// reads; a reader of the whole torrent's does. A reader near the end of a
// file used to fetch the next file's pieces, which that file's reader had
// often read already and the cache evicted: four readers of four files
// sharing a small cache downloaded 1.15 times the torrent.
func TestFileReaderReadaheadStopsAtFileEnd(t *testing.T) {
	const pl = 32 << 10
	mi, _ := testTorrent(t, 64*pl, pl)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	file := tor.NewFileReader(0, 10*pl+100, ReaderOptions{Readahead: 32 * pl})
	defer file.Close()
	whole := tor.NewReader(ReaderOptions{Readahead: 32 * pl})
	defer whole.Close()
	for _, r := range []*Reader{file, whole} {
		for off := int64(0); off < 8*pl; off += pl {
			id, err := r.demand(off, pl, int(off/pl), int(off/pl))
			if err != nil {
				t.Fatal(err)
			}
			r.done(id)
		}
	}
	tor.mu.Lock()
	fileAhead, wholeAhead := file.ahead, whole.ahead
	tor.mu.Unlock()
	if fileAhead != [2]int{8, 10} {
		t.Errorf("the file reader's readahead is pieces %v; want [8 10], up to the file's last piece", fileAhead)
	}
	if wholeAhead[1] <= 10 {
		t.Errorf("the torrent reader's readahead is pieces %v; want it past piece 10", wholeAhead)
	}
}

// sharedMem is a memory storage whose capacity others share, with
// others of them reading.
type sharedMem struct {
	Storage
	others int
}

func (s *sharedMem) OtherReaders() int { return s.others }

// TestWindowSharesABudgetWithOtherTorrents: the readers of all the
// torrents sharing one budget (a mount's pool) get half of it for their
// windows together, as those of one torrent do with a budget of its own.
func TestWindowSharesABudgetWithOtherTorrents(t *testing.T) {
	tor := offlineTorrent(t, 256, 16<<10, false)
	tor.capPieces = 64
	tor.readers[&Reader{pos: 0}] = struct{}{}
	if got := tor.windowPieces(); got != 32 {
		t.Fatalf("one reader, a budget of its own: a window of %d pieces, want 32", got)
	}
	sm := &sharedMem{Storage: tor.st}
	tor.st = sm
	for others, want := range []int{32, 16, 10, 8} {
		sm.others = others
		if got := tor.windowPieces(); got != want {
			t.Errorf("one reader, %d other torrents reading: a window of %d pieces, want %d", others, got, want)
		}
	}
	tor.readers[&Reader{pos: 0}] = struct{}{}
	sm.others = 1
	if got := tor.windowPieces(); got != 8 {
		t.Errorf("two readers, one other torrent reading: a window of %d pieces, want 8", got)
	}
}
