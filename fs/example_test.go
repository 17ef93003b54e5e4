package fs_test

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// memTorrent is a torrent whose bytes are all in memory and verified: the
// smallest fs.Torrent.
type memTorrent struct {
	info metainfo.Info
	data []byte
}

func (m *memTorrent) Info() *metainfo.Info              { return &m.info }
func (m *memTorrent) InfoHash() metainfo.Hash           { return sha1.Sum(m.data) }
func (m *memTorrent) OpenReader(off, n int64) fs.Reader { return memReader{m.data} }
func (m *memTorrent) VerifiedBytes(off, n int64) int64  { return max(0, min(n, int64(len(m.data))-off)) }

type memReader struct{ data []byte }

func (r memReader) ReadAt(ctx context.Context, b []byte, off int64) (int, error) {
	n := copy(b, r.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (memReader) Close() error { return nil }

// Mount a multi-file torrent and read one of its files like any other.
func ExampleMount() {
	data := []byte("hello from a torrent\nsecond file\n")
	t := &memTorrent{data: data, info: metainfo.Info{
		Name: "greetings", PieceLength: 16 << 10, MultiFile: true, Length: int64(len(data)),
		Files: []metainfo.File{
			{Path: []string{"hello.txt"}, Length: 21},
			{Path: []string{"more", "second.txt"}, Length: 12, Offset: 21},
		},
	}}
	dir, _ := os.MkdirTemp("", "torfs-example-")
	defer os.RemoveAll(dir)
	srv, err := fs.Mount(dir, fs.NewTorrentDir(t, fs.Options{}), fs.MountOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Unmount(context.Background())

	b, _ := os.ReadFile(filepath.Join(dir, "more", "second.txt"))
	fmt.Printf("%s", b)
	// Output: second file
}
