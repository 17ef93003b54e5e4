package fetch

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/torfs/torfs/metainfo"
)

// memStorage is an in-memory Storage for tests: the real one is package
// cache, which these tests must not depend on.
type memStorage struct {
	info *metainfo.Info
	mu   sync.Mutex
	data []byte
	ok   []bool
	// budgetFails makes the next WriteBlock calls fail like a full cache.
	budgetFails int
	writes      int
	// capacity, when not 0, is how many pieces it holds: room for a new
	// piece evicts the lowest one held that no read or window wants.
	capacity int
	reserved map[int]bool
	reads    [][2]int
	windows  [][2]int
	evicted  int
	onEvict  func(int)
	// fillsUp makes the WriteBlock after the first fullAfter ones fail
	// like a full disk, which lowers the capacity to capAfterFull pieces
	// (0: less than one piece, and every later write fails too).
	fillsUp      bool
	fullAfter    int
	capAfterFull int
	shrunk       bool
}

var errFull = fmt.Errorf("memStorage: budget full: %w", ErrStorageFull)

func newMemStorage(info *metainfo.Info, full []byte) *memStorage {
	s := &memStorage{info: info, data: make([]byte, info.Length), ok: make([]bool, info.NumPieces())}
	if full != nil {
		copy(s.data, full)
		for i := range s.ok {
			s.ok[i] = true
		}
	}
	return s
}

func (s *memStorage) Have(p int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok[p]
}

func (s *memStorage) Unproven(int) bool { return false }

func (s *memStorage) Prove(p int) (bool, error) { return s.Verify(p) }

func (s *memStorage) WriteBlock(p int, off int64, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.budgetFails > 0 {
		s.budgetFails--
		return fmt.Errorf("piece %d: %w", p, errFull)
	}
	// A disk that filled up so that not one piece fits stays full: the
	// writes of pieces already in flight fail too, as they would on a
	// real disk.
	if (s.fillsUp && s.writes >= s.fullAfter) || (s.shrunk && s.capacity == 0) {
		s.fillsUp, s.shrunk, s.capacity = false, true, s.capAfterFull
		return fmt.Errorf("%w: /mem/cache holds %d pieces; the cache now keeps to %d: %w",
			ErrDiskFull, s.writes, s.capAfterFull, syscall.ENOSPC)
	}
	if off+int64(len(b)) > s.info.PieceSize(p) {
		return fmt.Errorf("block %d+%d outside piece %d", off, len(b), p)
	}
	s.writes++
	copy(s.data[s.info.PieceOffset(p)+off:], b)
	return nil
}

func (s *memStorage) Verify(p int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.info.PieceOffset(p)
	h := sha1.Sum(s.data[start : start+s.info.PieceSize(p)])
	s.ok[p] = h == [20]byte(s.info.PieceHash(p))
	delete(s.reserved, p)
	return s.ok[p], nil
}

func (s *memStorage) Discard(p int) {
	s.mu.Lock()
	delete(s.reserved, p)
	s.mu.Unlock()
}

func (s *memStorage) Capacity() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shrunk && s.capacity == 0 {
		return 1 // less than a piece; 0 would mean "keeps everything"
	}
	return int64(s.capacity) * s.info.PieceLength
}

func (s *memStorage) SetDemand(reads, windows [][2]int, behind int) {
	s.mu.Lock()
	s.reads, s.windows = slices.Clone(reads), slices.Clone(windows)
	s.mu.Unlock()
}

func (s *memStorage) OnEvict(f func(int)) {
	s.mu.Lock()
	s.onEvict = f
	s.mu.Unlock()
}

// Reserve makes room for p within capacity, evicting a piece nobody
// wants, and reports the evictions outside its lock.
func (s *memStorage) Reserve(p int) error {
	s.mu.Lock()
	if s.shrunk && s.capacity == 0 {
		s.mu.Unlock()
		return errFull
	}
	if s.capacity == 0 || s.ok[p] || s.reserved[p] {
		s.mu.Unlock()
		return nil
	}
	if s.reserved == nil {
		s.reserved = map[int]bool{}
	}
	held := len(s.reserved)
	for _, ok := range s.ok {
		if ok {
			held++
		}
	}
	var gone []int
	for q := 0; q < len(s.ok) && held >= s.capacity; q++ {
		if s.ok[q] && !inRanges(q, s.reads) && !inRanges(q, s.windows) {
			s.ok[q] = false
			s.evicted++
			held--
			gone = append(gone, q)
		}
	}
	if held >= s.capacity {
		s.mu.Unlock()
		return fmt.Errorf("piece %d: %w", p, errFull)
	}
	s.reserved[p] = true
	f := s.onEvict
	s.mu.Unlock()
	for _, q := range gone {
		f(q)
	}
	return nil
}

func inRanges(p int, rs [][2]int) bool {
	for _, r := range rs {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}

func (s *memStorage) ReadAt(b []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first, last := s.info.PieceRange(off, int64(len(b)))
	for p := first; p <= last; p++ {
		if !s.ok[p] {
			return 0, fmt.Errorf("piece %d not verified", p)
		}
	}
	return copy(b, s.data[off:]), nil
}

func (s *memStorage) VerifiedBytes(off, n int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var v int64
	first, last := s.info.PieceRange(off, n)
	for p := first; p <= last; p++ {
		if s.ok[p] {
			a := max(off, s.info.PieceOffset(p))
			b := min(off+n, s.info.PieceOffset(p)+s.info.PieceSize(p))
			v += b - a
		}
	}
	return v
}

// evict drops piece p and reports it like a cache evicting.
func (s *memStorage) evict(p int) {
	s.mu.Lock()
	s.ok[p] = false
	f := s.onEvict
	s.mu.Unlock()
	if f != nil {
		f(p)
	}
}

// testTorrent builds a single-file torrent of random data.
func testTorrent(t testing.TB, length, pieceLen int64) (*metainfo.MetaInfo, []byte) {
	t.Helper()
	data := make([]byte, length)
	rng := rand.New(rand.NewPCG(uint64(length), uint64(pieceLen)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var pieces []byte
	for off := int64(0); off < length; off += pieceLen {
		h := sha1.Sum(data[off:min(off+pieceLen, length)])
		pieces = append(pieces, h[:]...)
	}
	mi := &metainfo.MetaInfo{Info: metainfo.Info{
		Name: "test.bin", PieceLength: pieceLen, Pieces: pieces, Length: length,
		Files: []metainfo.File{{Path: []string{"test.bin"}, Length: length}},
	}}
	mi.InfoHash = sha1.Sum(append([]byte("test"), pieces...))
	return mi, data
}

func (s *memStorage) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.data)
}
