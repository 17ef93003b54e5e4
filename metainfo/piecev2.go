package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"sort"
)

// v2 pieces: each lies in one file (the pieces of a v2 torrent never span
// two), so a piece's BEP 52 hash is the merkle root of that file's blocks
// in it, and its expected value comes from the file's piece layer, or,
// for a file of one piece, is the file's pieces root.

// pieceFile returns the file piece p lies in (the first file that is not
// padding and holds data at the piece's start) and its index in the file.
func (i *Info) pieceFile(p int) (f *File, inFile int, ok bool) {
	off := i.PieceOffset(p)
	k := sort.Search(len(i.Files), func(k int) bool { return i.Files[k].Offset+i.Files[k].Length > off })
	for ; k < len(i.Files); k++ {
		if fl := &i.Files[k]; fl.Length > 0 {
			if fl.Pad || fl.PiecesRoot == (Hash256{}) {
				return nil, 0, false
			}
			return fl, int((off - fl.Offset) / i.PieceLength), true
		}
	}
	return nil, 0, false
}

// PieceHashV2 returns the BEP 52 hash piece p must have: its entry in its
// file's piece layer, or the file's pieces root when the file fits in one
// piece. ok is false for a v1 torrent, and when the torrent left out the
// file's layer (it must then come from peers).
func (m *MetaInfo) PieceHashV2(p int) (h Hash256, ok bool) {
	in := &m.Info
	if !in.V2 || p < 0 || p >= in.NumPieces() {
		return h, false
	}
	f, k, ok := in.pieceFile(p)
	if !ok {
		return h, false
	}
	if f.Length <= in.PieceLength {
		return f.PiecesRoot, true
	}
	layer := m.PieceLayers[f.PiecesRoot]
	if len(layer) < (k+1)*Hash256Size {
		return h, false
	}
	copy(h[:], layer[k*Hash256Size:])
	return h, true
}

// NewPieceHasherV2 returns a hash.Hash that computes the BEP 52 hash of
// piece p from the piece's bytes as they lie in the torrent's byte space
// (written in order, in any chunks); bytes past the end of the piece's
// file (its pad) are ignored. Sum appends the 32-byte hash. It returns
// nil for a v1-only torrent.
func (i *Info) NewPieceHasherV2(p int) hash.Hash {
	f, _, ok := i.pieceFile(p)
	if !i.V2 || !ok {
		return nil
	}
	real := min(i.PieceSize(p), f.Offset+f.Length-i.PieceOffset(p))
	return &pieceHasher{pieceLength: i.PieceLength, fileLength: f.Length, real: real}
}

// pieceHasher is NewPieceHasherV2's hash.Hash.
type pieceHasher struct {
	pieceLength, fileLength int64
	real                    int64 // bytes of the file in the piece
	seen                    int64 // bytes written, pad included
	block                   [BlockSize]byte
	inBlock                 int
	leaves                  []Hash256
}

func (h *pieceHasher) Write(p []byte) (int, error) {
	n := len(p)
	if rest := h.real - h.seen; int64(len(p)) > rest {
		p = p[:max(rest, 0)]
	}
	h.seen += int64(n)
	if h.inBlock > 0 {
		c := copy(h.block[h.inBlock:], p)
		h.inBlock += c
		p = p[c:]
		if h.inBlock < BlockSize {
			return n, nil
		}
		h.leaves = append(h.leaves, sha256.Sum256(h.block[:]))
		h.inBlock = 0
	}
	for len(p) >= BlockSize {
		h.leaves = append(h.leaves, sha256.Sum256(p[:BlockSize]))
		p = p[BlockSize:]
	}
	h.inBlock = copy(h.block[:], p)
	return n, nil
}

func (h *pieceHasher) Sum(b []byte) []byte {
	leaves := append([]Hash256(nil), h.leaves...)
	if h.inBlock > 0 {
		leaves = append(leaves, sha256.Sum256(h.block[:h.inBlock]))
	}
	root := pieceHash(leaves, h.pieceLength, h.fileLength)
	return append(b, root[:]...)
}

func (h *pieceHasher) Reset() {
	h.seen, h.inBlock, h.leaves = 0, 0, h.leaves[:0]
}

func (h *pieceHasher) Size() int      { return Hash256Size }
func (h *pieceHasher) BlockSize() int { return BlockSize }

// CheckPiece reports whether data is piece p: by its SHA-1 when the
// torrent has v1 hashes, otherwise by its BEP 52 hash (false when that is
// unknown).
func (m *MetaInfo) CheckPiece(p int, data []byte) bool {
	if p < 0 || p >= m.Info.NumPieces() {
		return false
	}
	if m.HasV1() {
		return Hash(sha1.Sum(data)) == m.Info.PieceHash(p)
	}
	want, ok := m.PieceHashV2(p)
	if !ok {
		return false
	}
	h := m.Info.NewPieceHasherV2(p)
	h.Write(data)
	return bytes.Equal(h.Sum(nil), want[:])
}

// HasAllHashesV2 reports whether every piece's BEP 52 hash is known (see
// PieceHashV2): what downloading a v2-only torrent needs, once the
// hashes missing were asked of peers (BEP 52 hash requests).
func (m *MetaInfo) HasAllHashesV2() bool {
	for p := range m.Info.NumPieces() {
		if _, ok := m.PieceHashV2(p); !ok {
			return false
		}
	}
	return m.HasV2()
}

// FilesLackingLayers returns the files whose piece layer m lacks, one
// per pieces root: those of more than one piece (a smaller file's root
// is its piece's hash), pad files left out.
func (m *MetaInfo) FilesLackingLayers() []*File {
	var out []*File
	seen := map[Hash256]bool{}
	for i := range m.Info.Files {
		f := &m.Info.Files[i]
		root := f.PiecesRoot
		if f.Pad || f.Length <= m.Info.PieceLength || root == (Hash256{}) || seen[root] {
			continue
		}
		seen[root] = true
		if _, ok := m.PieceLayers[root]; !ok {
			out = append(out, f)
		}
	}
	return out
}
