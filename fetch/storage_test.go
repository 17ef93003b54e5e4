package fetch

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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
}

var errFull = errors.New("memStorage: budget full")

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
	return s.ok[p], nil
}

func (s *memStorage) Discard(int) {}

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

func (s *memStorage) evict(p int) {
	s.mu.Lock()
	s.ok[p] = false
	s.mu.Unlock()
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
