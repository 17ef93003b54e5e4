package fs

import (
	"context"
	"crypto/sha1"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/torfs/torfs/metainfo"
)

// fakeFile describes one file of a fake torrent.
type fakeFile struct {
	path    []string
	length  int64
	pad     bool
	exec    bool
	symlink []string
}

// fakeTorrent is an in-memory torrent whose pieces become available when
// the test says so; reads of missing pieces block like the engine's.
type fakeTorrent struct {
	info metainfo.Info
	hash metainfo.Hash
	data []byte

	mu       sync.Mutex
	have     []bool
	changed  chan struct{} // closed and replaced whenever have or stall change
	stallErr error

	blocked chan struct{} // one token per read that had to wait
	open    atomic.Int32  // readers not yet closed
}

func newFakeTorrent(t testing.TB, name string, multi bool, pieceLen int64, files ...fakeFile) *fakeTorrent {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(files)), uint64(pieceLen)))
	ft := &fakeTorrent{changed: make(chan struct{}), blocked: make(chan struct{}, 1024)}
	info := &ft.info
	info.Name, info.PieceLength, info.MultiFile = name, pieceLen, multi
	for _, f := range files {
		info.Files = append(info.Files, metainfo.File{Path: f.path, Length: f.length, Offset: info.Length,
			Pad: f.pad, Executable: f.exec, Symlink: f.symlink})
		info.Length += f.length
	}
	ft.data = make([]byte, info.Length)
	for i := range ft.data {
		ft.data[i] = byte(rng.Uint32())
	}
	for _, f := range info.Files {
		if f.Pad {
			clear(ft.data[f.Offset : f.Offset+f.Length])
		}
	}
	for off := int64(0); off < info.Length; off += pieceLen {
		h := sha1.Sum(ft.data[off:min(off+pieceLen, info.Length)])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	ft.hash = sha1.Sum([]byte(name))
	ft.have = make([]bool, info.NumPieces())
	return ft
}

// fileData returns the content of file i.
func (ft *fakeTorrent) fileData(i int) []byte {
	f := ft.info.Files[i]
	return ft.data[f.Offset : f.Offset+f.Length]
}

// setHave makes pieces available (or not).
func (ft *fakeTorrent) setHave(v bool, pieces ...int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for _, p := range pieces {
		ft.have[p] = v
	}
	close(ft.changed)
	ft.changed = make(chan struct{})
}

func (ft *fakeTorrent) setAll() {
	all := make([]int, len(ft.have))
	for i := range all {
		all[i] = i
	}
	ft.setHave(true, all...)
}

// stall makes every waiting and future read fail with err.
func (ft *fakeTorrent) stall(err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.stallErr = err
	close(ft.changed)
	ft.changed = make(chan struct{})
}

func (ft *fakeTorrent) Info() *metainfo.Info    { return &ft.info }
func (ft *fakeTorrent) InfoHash() metainfo.Hash { return ft.hash }

func (ft *fakeTorrent) OpenReader(off, n int64) Reader {
	ft.open.Add(1)
	return &fakeReader{ft: ft}
}

func (ft *fakeTorrent) VerifiedBytes(off, n int64) int64 {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var v int64
	end := min(off+n, ft.info.Length)
	for p := range ft.have {
		if !ft.have[p] {
			continue
		}
		ps, pe := ft.info.PieceOffset(p), ft.info.PieceOffset(p)+ft.info.PieceSize(p)
		if lo, hi := max(ps, off), min(pe, end); hi > lo {
			v += hi - lo
		}
	}
	return v
}

type fakeReader struct {
	ft     *fakeTorrent
	closed atomic.Bool
}

func (r *fakeReader) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	ft := r.ft
	if off >= ft.info.Length {
		return 0, io.EOF
	}
	n := min(int64(len(b)), ft.info.Length-off)
	first, last := ft.info.PieceRange(off, n)
	for {
		ft.mu.Lock()
		if ft.stallErr != nil {
			ft.mu.Unlock()
			return 0, ft.stallErr
		}
		ready := true
		for p := first; p <= last; p++ {
			ready = ready && ft.have[p]
		}
		changed := ft.changed
		ft.mu.Unlock()
		if ready {
			copy(b, ft.data[off:off+n])
			if n < int64(len(b)) {
				return int(n), io.EOF
			}
			return int(n), nil
		}
		select {
		case ft.blocked <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-changed:
		}
	}
}

func (r *fakeReader) Close() error {
	if !r.closed.Swap(true) {
		r.ft.open.Add(-1)
	}
	return nil
}
