package cache

import (
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// fileSet keeps at most max backing files open, least recently used closed
// first. A handle in use by I/O is closed only when that I/O releases it,
// so eviction from the LRU never pulls a descriptor from under a pread.
type fileSet struct {
	paths []string // per torrent file; "" when not stored

	mu     sync.Mutex
	lru    *simplelru.LRU[int, *handle]
	open   int
	closed bool
}

// handle is a reference-counted open backing file.
type handle struct {
	f       *os.File
	refs    int
	evicted bool
}

func newFileSet(paths []string, max int) (*fileSet, error) {
	s := &fileSet{paths: paths}
	lru, err := simplelru.NewLRU(max, s.onEvict)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	s.lru = lru
	return s, nil
}

// onEvict runs under s.mu when the LRU drops a handle.
func (s *fileSet) onEvict(_ int, h *handle) {
	h.evicted = true
	if h.refs == 0 {
		s.closeHandle(h)
	}
}

func (s *fileSet) closeHandle(h *handle) {
	h.f.Close() // read-mostly descriptor; write errors surface from pwrite
	s.open--
}

// acquire returns an open handle on torrent file k; release it when done.
func (s *fileSet) acquire(k int) (*handle, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if h, ok := s.lru.Get(k); ok {
		h.refs++
		s.mu.Unlock()
		return h, nil
	}
	s.mu.Unlock()

	// Open outside the lock: opening can be slow and other files' I/O
	// must not wait for it.
	f, err := os.OpenFile(s.paths[k], os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("cache: opening backing file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		f.Close()
		return nil, ErrClosed
	}
	if h, ok := s.lru.Get(k); ok {
		f.Close() // another goroutine opened it first
		h.refs++
		return h, nil
	}
	h := &handle{f: f, refs: 1}
	s.open++
	s.lru.Add(k, h)
	return h, nil
}

// release gives back a handle obtained from acquire.
func (s *fileSet) release(h *handle) {
	s.mu.Lock()
	h.refs--
	if h.refs == 0 && h.evicted {
		s.closeHandle(h)
	}
	s.mu.Unlock()
}

// openCount returns the number of descriptors open right now.
func (s *fileSet) openCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// close closes every idle descriptor; those in use close on release.
func (s *fileSet) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.lru.Purge()
	return nil
}
