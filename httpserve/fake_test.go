package httpserve

import (
	"bytes"
	"context"
	"crypto/sha1"
	"strings"
	"sync"
	"time"

	"github.com/torfs/torfs/metainfo"
)

// fakeTorrent is a Torrent held in memory that counts the streams it
// opens and the bytes read through them.
type fakeTorrent struct {
	name string
	mi   *metainfo.MetaInfo
	data []byte

	mu     sync.Mutex
	opened int   // streams opened
	open   int   // streams not closed yet
	read   int64 // bytes read
}

// fakeFile is a file of the fake torrent and its size.
type fakeFile struct {
	path string
	size int
}

// newFake returns a torrent named name holding files (one file named
// name makes it a single-file torrent), filled with a pattern.
func newFake(name string, files ...fakeFile) *fakeTorrent {
	info := metainfo.Info{Name: name, PieceLength: 16 << 10, MultiFile: len(files) != 1 || files[0].path != name}
	for _, f := range files {
		info.Files = append(info.Files, metainfo.File{Path: strings.Split(f.path, "/"), Length: int64(f.size), Offset: info.Length})
		info.Length += int64(f.size)
	}
	data := make([]byte, info.Length)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	mi := &metainfo.MetaInfo{Info: info, InfoHash: sha1.Sum([]byte(name))}
	return &fakeTorrent{name: name, mi: mi, data: data}
}

// file returns the bytes of the file at p.
func (t *fakeTorrent) file(p string) []byte {
	for _, f := range t.mi.Info.Files {
		if strings.Join(f.Path, "/") == p {
			return t.data[f.Offset : f.Offset+f.Length]
		}
	}
	panic("no file " + p)
}

type fakeLibrary []*fakeTorrent

func (l fakeLibrary) Torrents() []Torrent {
	out := make([]Torrent, len(l))
	for i, t := range l {
		out[i] = t
	}
	return out
}

func (t *fakeTorrent) Name() string            { return t.name }
func (t *fakeTorrent) InfoHash() metainfo.Hash { return t.mi.InfoHash }
func (t *fakeTorrent) Info() *metainfo.Info    { return &t.mi.Info }
func (t *fakeTorrent) ModTime() time.Time      { return time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) }

func (t *fakeTorrent) OpenFile(ctx context.Context, i int) (File, error) {
	f := t.mi.Info.Files[i]
	t.mu.Lock()
	t.opened++
	t.open++
	t.mu.Unlock()
	return &fakeStream{Reader: bytes.NewReader(t.data[f.Offset : f.Offset+f.Length]), t: t}, nil
}

func (t *fakeTorrent) counts() (opened, open int, read int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.opened, t.open, t.read
}

type fakeStream struct {
	*bytes.Reader
	t      *fakeTorrent
	closed bool
}

func (s *fakeStream) Read(b []byte) (int, error) {
	n, err := s.Reader.Read(b)
	s.t.mu.Lock()
	s.t.read += int64(n)
	s.t.mu.Unlock()
	return n, err
}

func (s *fakeStream) Close() error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.t.open--
	}
	return nil
}
