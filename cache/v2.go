package cache

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"hash"

	"github.com/torfs/torfs/metainfo"
)

// A v1 or hybrid torrent's pieces are verified by SHA-1; a v2-only
// torrent's by their BEP 52 merkle hash, each piece within one file.

// v2Hashes collects the expected hash of every piece of a v2-only torrent
// (nil for a torrent with SHA-1 hashes).
func v2Hashes(info *metainfo.Info, get func(int) (metainfo.Hash256, bool)) ([]metainfo.Hash256, error) {
	if info.HasV1() {
		return nil, nil
	}
	if get == nil {
		return nil, fmt.Errorf("cache: %s is a v2-only torrent and no piece hashes were given", info.Name)
	}
	out := make([]metainfo.Hash256, info.NumPieces())
	for p := range out {
		h, ok := get(p)
		if !ok {
			return nil, fmt.Errorf("cache: v2-only torrent %s: the hash of piece %d is unknown (its 'piece layers' leave the file's layer out): %w", info.Name, p, metainfo.ErrV2Only)
		}
		out[p] = h
	}
	return out, nil
}

// newHash returns what piece p is hashed with.
func (c *Cache) newHash(p int) hash.Hash {
	if c.v2 != nil {
		return c.info.NewPieceHasherV2(p)
	}
	return sha1.New()
}

// pieceOK reports whether sum, from a hash of newHash(p), is piece p's.
func (c *Cache) pieceOK(p int, sum []byte) bool {
	if c.v2 != nil {
		return bytes.Equal(sum, c.v2[p][:])
	}
	want := c.info.PieceHash(p)
	return bytes.Equal(sum, want[:])
}

// stateID names the torrent in the resume state: its piece hashes.
func (c *Cache) stateID() string {
	if c.v2 == nil {
		return torrentID(c.info.Pieces)
	}
	b := make([]byte, 0, len(c.v2)*metainfo.Hash256Size)
	for _, h := range c.v2 {
		b = append(b, h[:]...)
	}
	return torrentID(b)
}
