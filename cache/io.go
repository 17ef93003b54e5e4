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
	sum [sha1.Size]byte
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
		_, err = h.f.WriteAt(b, off)
	} else {
		_, err = h.f.ReadAt(b, off)
	}
	return err // an *os.PathError: it names the file
}

// hashPiece reads piece p back from disk, after writing out what pt
// (its write-behind state, owned by the caller now, or nil) still holds,
// and reports whether it matches its expected SHA-1.
func (c *Cache) hashPiece(p int, pt *partial) (bool, error) {
	if pt != nil {
		if err := c.flush(p, pt); err != nil {
			return false, fmt.Errorf("cache: writing piece %d: %w", p, err)
		}
	}
	hs := c.getHasher()
	defer c.hashers.Put(hs)
	off, n := c.info.PieceOffset(p), c.info.PieceSize(p)
	for n > 0 {
		chunk := hs.buf[:min(n, int64(len(hs.buf)))]
		if err := c.readAt(chunk, off); err != nil {
			return false, fmt.Errorf("cache: reading piece %d back: %w", p, err)
		}
		hs.h.Write(chunk)
		off += int64(len(chunk))
		n -= int64(len(chunk))
	}
	hs.h.Sum(hs.sum[:0])
	return metainfo.Hash(hs.sum) == c.info.PieceHash(p), nil
}
