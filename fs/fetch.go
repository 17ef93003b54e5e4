package fs

import (
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/metainfo"
)

// FromFetch presents an engine session to the file system: each open file
// handle gets its own fetch.Reader with opts, so the engine sizes each
// handle's readahead and ends reads that stall (EIO).
func FromFetch(t *fetch.Torrent, opts fetch.ReaderOptions) Torrent {
	return fetchTorrent{t: t, opts: opts}
}

type fetchTorrent struct {
	t    *fetch.Torrent
	opts fetch.ReaderOptions
}

func (f fetchTorrent) Info() *metainfo.Info             { return f.t.Info() }
func (f fetchTorrent) InfoHash() metainfo.Hash          { return f.t.InfoHash() }
func (f fetchTorrent) OpenReader() Reader               { return f.t.NewReader(f.opts) }
func (f fetchTorrent) VerifiedBytes(off, n int64) int64 { return f.t.VerifiedBytes(off, n) }
