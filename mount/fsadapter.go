package mount

import (
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// fsTorrent presents an engine session to the file system: each open file
// handle gets its own fetch.Reader with opts, so the engine sizes each
// handle's readahead and ends reads that stall (EIO). It lives here, with
// the caller, so that fs depends only on its own two interfaces.
type fsTorrent struct {
	t    *fetch.Torrent
	opts fetch.ReaderOptions
}

var _ fs.Torrent = fsTorrent{}

func (f fsTorrent) Info() *metainfo.Info    { return f.t.Info() }
func (f fsTorrent) InfoHash() metainfo.Hash { return f.t.InfoHash() }
func (f fsTorrent) OpenReader(off, n int64) fs.Reader {
	return f.t.NewFileReader(off, n, f.opts)
}
func (f fsTorrent) VerifiedBytes(off, n int64) int64 { return f.t.VerifiedBytes(off, n) }

// space is what the torrent's cache holds and its budget (0 =
// unlimited), for the file system's statfs (df).
func (t *Served) space() (used, budget int64) {
	cs := t.cache.Stats()
	return cs.Used, cs.Budget
}
