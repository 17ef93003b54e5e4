package cache

import (
	"crypto/sha1"
	"fmt"
	"hash"

	"github.com/torfs/torfs/metainfo"
)

// hashChunk is how much of a piece is read back per pread while hashing:
// large enough to amortise the syscall, small enough to stay in L2.
const hashChunk = 256 << 10

// hasher is the pooled state of one piece hash, so that verifying a piece
// allocates nothing.
type hasher struct {
	h   hash.Hash
	buf []byte
	sum [metainfo.Hash256Size]byte // room for a SHA-1 or a SHA-256
}

func (c *Cache) getHasher() *hasher {
	if h, ok := c.hashers.Get().(*hasher); ok {
		h.h.Reset()
		return h
	}
	return &hasher{h: sha1.New(), buf: make([]byte, hashChunk)}
}

// writeAt writes data at torrent offset off into the backing files,
// skipping pad files.
func (c *Cache) writeAt(data []byte, off int64) error {
	var err error
	c.info.EachSpan(off, int64(len(data)), func(s metainfo.Span) bool {
		chunk := data[:s.Length]
		data = data[s.Length:]
		if !stored(c.info, s.File) {
			return true
		}
		err = c.fileIO(s.File, chunk, s.Offset, true)
		return err == nil
	})
	return err
}

// readAt fills b from torrent offset off; pad files read as zeros.
func (c *Cache) readAt(b []byte, off int64) error {
	var err error
	c.info.EachSpan(off, int64(len(b)), func(s metainfo.Span) bool {
		chunk := b[:s.Length]
		b = b[s.Length:]
		if !stored(c.info, s.File) {
			clear(chunk)
			return true
		}
		err = c.fileIO(s.File, chunk, s.Offset, false)
		return err == nil
	})
	return err
}

// fileIO does one pwrite or pread on backing file k.
func (c *Cache) fileIO(k int, b []byte, off int64, write bool) error {
	h, err := c.files.acquire(k)
	if err != nil {
		return err
	}
	defer c.files.release(h)
	if write {
		if !c.written[k].Load() {
			c.written[k].Store(true)
		}
		var n int
		n, err = h.f.WriteAt(b, off)
		if !c.holdDirty {
			// Otherwise the data waits in memory until the journal
			// records it (recordAfter).
			c.writeback.wrote(k, n)
		}
	} else {
		_, err = h.f.ReadAt(b, off)
	}
	return err // an *os.PathError: it names the file
}

// zeros is what pad and symlink ranges hash as; never written to.
var zeros [16 << 10]byte

// feed hashes data, which sits at torrent offset off, as it reads back
// from the cache: pad and symlink ranges as zeros, whatever a peer sent.
func (c *Cache) feed(h hash.Hash, data []byte, off int64) {
	c.info.EachSpan(off, int64(len(data)), func(s metainfo.Span) bool {
		chunk := data[:s.Length]
		data = data[s.Length:]
		if stored(c.info, s.File) {
			h.Write(chunk)
			return true
		}
		for n := s.Length; n > 0; n -= min(n, int64(len(zeros))) {
			h.Write(zeros[:min(n, int64(len(zeros)))])
		}
		return true
	})
}

// hashRange feeds h the bytes [from, to) of piece p, read back from disk
// through buf.
func (c *Cache) hashRange(h hash.Hash, buf []byte, p int, from, to int64) error {
	off, n := c.info.PieceOffset(p)+from, to-from
	for n > 0 {
		chunk := buf[:min(n, int64(len(buf)))]
		if err := c.readAt(chunk, off); err != nil {
			return fmt.Errorf("cache: reading piece %d back: %w", p, err)
		}
		h.Write(chunk)
		off += int64(len(chunk))
		n -= int64(len(chunk))
	}
	return nil
}

// hashPiece reports whether piece p matches its expected SHA-1. With pt
// (the piece's running hash, owned by the caller now), only the bytes
// beyond its hashed prefix are read back from disk; without, all of them.
func (c *Cache) hashPiece(p int, pt *partial) (bool, error) {
	hs := c.getHasher()
	defer c.hashers.Put(hs)
	h, from := hs.h, int64(0)
	if c.v2 != nil {
		h = c.newHash(p)
	}
	if pt != nil {
		if err := c.settle(p, pt); err != nil {
			return false, fmt.Errorf("cache: writing piece %d: %w", p, err)
		}
		h, from = pt.h, pt.hashed
	}
	if err := c.hashRange(h, hs.buf, p, from, c.info.PieceSize(p)); err != nil {
		return false, err
	}
	return c.pieceOK(p, h.Sum(hs.sum[:0])), nil
}
