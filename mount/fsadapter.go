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

func (f fsTorrent) Info() *metainfo.Info             { return f.t.Info() }
func (f fsTorrent) InfoHash() metainfo.Hash          { return f.t.InfoHash() }
func (f fsTorrent) OpenReader() fs.Reader            { return f.t.NewReader(f.opts) }
func (f fsTorrent) VerifiedBytes(off, n int64) int64 { return f.t.VerifiedBytes(off, n) }
