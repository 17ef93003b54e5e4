// Package fs presents torrents as a read-only FUSE file system.
//
// A mounted torrent shows its tree at once, with exact sizes and BEP 47
// modes, before a byte has been downloaded. Every open file handle gets its
// own Reader from the engine, so the engine can tell a sequential reader
// from one that seeks and size its readahead; a FUSE read blocks until the
// engine has verified the bytes under it. The package knows nothing about
// peers: it talks to the engine through the two small interfaces below,
// which makes it testable with an in-memory torrent.
//
// A torrent known only by its info-hash (a magnet link whose metadata is
// on its way) is shown by a Pending directory: one file, ResolvingName,
// says what is going on until Pending.Show swaps in the tree and tells the
// kernel, so a listing shows the files without a remount.
package fs

import (
	"context"

	"github.com/torfs/torfs/metainfo"
)

// Torrent is what the file system needs from the engine for one torrent.
type Torrent interface {
	// Info is the torrent's info dictionary; it must not change.
	Info() *metainfo.Info
	// InfoHash identifies the torrent (shown in the user.torfs.infohash
	// extended attribute).
	InfoHash() metainfo.Hash
	// OpenReader returns a new reader for one open file handle of the
	// file at torrent bytes [off, off+n), so that the engine's readahead
	// can stop at the file's end.
	OpenReader(off, n int64) Reader
	// VerifiedBytes counts the verified bytes within the torrent byte
	// range [off, off+n).
	VerifiedBytes(off, n int64) int64
}

// Reader reads a torrent's byte space on behalf of one open file handle.
// The engine tracks the handle's position to tell sequential reads from
// seeks and to size its readahead.
type Reader interface {
	// ReadAt fills b with verified bytes from torrent offset off. It
	// blocks until they are verified, returns ctx.Err() (or an error
	// wrapping it) as soon as ctx is cancelled, and any other error
	// when the bytes cannot be had (the file system reports it as EIO
	// and logs it). The kernel issues reads of one handle concurrently,
	// so ReadAt must be safe for concurrent use.
	ReadAt(ctx context.Context, b []byte, off int64) (int, error)
	// Close withdraws the reader's demands.
	Close() error
}
