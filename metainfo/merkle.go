package metainfo

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
)

// BEP 52 hashes each file on its own as a binary merkle tree over SHA-256:
// the leaves are the hashes of the file's 16 KiB blocks (the last one
// shorter), padded with zero hashes to a power of two; each node hashes
// the concatenation of its two children. The root is the file's 'pieces
// root'; the layer whose nodes each cover one piece is its piece layer.

// BlockSize is the size of a BEP 52 merkle leaf: every file is hashed in
// blocks of 16 KiB.
const BlockSize = 16 << 10

// hashPair returns the parent of two merkle nodes.
func hashPair(a, b Hash256) Hash256 {
	var buf [2 * Hash256Size]byte
	copy(buf[:Hash256Size], a[:])
	copy(buf[Hash256Size:], b[:])
	return sha256.Sum256(buf[:])
}

// zeroSubtree returns the root of a subtree of 2^height zero leaves: what
// pads a layer at that height.
func zeroSubtree(height int) Hash256 {
	var h Hash256
	for range height {
		h = hashPair(h, h)
	}
	return h
}

// subtreeRoot returns the root of a tree whose bottom layer is width nodes
// (a power of two): nodes, then as many copies of pad as it takes. nodes
// is overwritten.
func subtreeRoot(nodes []Hash256, pad Hash256, width int) Hash256 {
	if len(nodes) == 0 {
		nodes = append(nodes, pad)
	}
	for ; width > 1; width /= 2 {
		n := len(nodes)
		for i := 0; i < n; i += 2 {
			right := pad
			if i+1 < n {
				right = nodes[i+1]
			}
			nodes[i/2] = hashPair(nodes[i], right)
		}
		nodes = nodes[:(n+1)/2]
		pad = hashPair(pad, pad)
	}
	return nodes[0]
}

// pow2 returns the smallest power of two at least n (n >= 1).
func pow2(n int64) int64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(uint64(n-1))
}

// log2 returns the base-2 logarithm of a power of two.
func log2(n int64) int { return bits.TrailingZeros64(uint64(n)) }

// blocks returns how many 16 KiB blocks hold n bytes.
func blocks(n int64) int64 { return (n + BlockSize - 1) / BlockSize }

// PieceLayerRoot returns the root a file's piece layer (the concatenated
// 32-byte hashes of its pieces, as in 'piece layers') hashes up to, for
// pieces of pieceLength bytes: the layer padded to a power of two with
// the hashes of pieces of zeros.
func PieceLayerRoot(layer []byte, pieceLength int64) (Hash256, error) {
	if len(layer) == 0 || len(layer)%Hash256Size != 0 {
		return Hash256{}, fmt.Errorf("a piece layer of %d bytes is not a whole number of %d-byte hashes", len(layer), Hash256Size)
	}
	if pieceLength < BlockSize || pieceLength&(pieceLength-1) != 0 {
		return Hash256{}, errors.New("the piece length is not a power of two of at least 16 KiB")
	}
	nodes := hashesOf(layer, len(layer)/Hash256Size)
	return subtreeRoot(nodes, zeroSubtree(log2(pieceLength/BlockSize)), int(pow2(int64(len(nodes))))), nil
}

// pieceHash returns the merkle hash of one piece from the hashes of its
// blocks: a piece of a file larger than a piece is padded to the blocks
// of a whole piece; a file of one piece or less only to a power of two.
// leaves is overwritten.
func pieceHash(leaves []Hash256, pieceLength, fileLength int64) Hash256 {
	width := pieceLength / BlockSize
	if fileLength <= pieceLength {
		width = pow2(blocks(fileLength))
	}
	return subtreeRoot(leaves, Hash256{}, int(width))
}

// fileRoot returns a file's pieces root from the hashes of its pieces
// (pieceHash of each). layer is overwritten.
func fileRoot(layer []Hash256, pieceLength, fileLength int64) Hash256 {
	if fileLength <= pieceLength {
		return layer[0]
	}
	return subtreeRoot(layer, zeroSubtree(log2(pieceLength/BlockSize)), int(pow2(int64(len(layer)))))
}

// A FileHasher computes a file's BEP 52 hashes from its bytes, written in
// order, holding one piece's block hashes and the piece layer, never the
// data.
type FileHasher struct {
	pieceLength int64
	block       [BlockSize]byte
	inBlock     int
	leaves      []Hash256 // the blocks of the current piece
	layer       []Hash256 // the pieces done
	length      int64
}

// NewFileHasher returns a FileHasher for pieces of pieceLength bytes, a
// power of two of at least 16 KiB.
func NewFileHasher(pieceLength int64) *FileHasher {
	return &FileHasher{pieceLength: pieceLength, leaves: make([]Hash256, 0, pieceLength/BlockSize)}
}

// Write hashes p, the next bytes of the file. It never fails.
func (h *FileHasher) Write(p []byte) (int, error) {
	n := len(p)
	h.length += int64(n)
	if h.inBlock > 0 {
		c := copy(h.block[h.inBlock:], p)
		h.inBlock += c
		p = p[c:]
		if h.inBlock < BlockSize {
			return n, nil
		}
		h.leaf(h.block[:])
		h.inBlock = 0
	}
	for len(p) >= BlockSize {
		h.leaf(p[:BlockSize])
		p = p[BlockSize:]
	}
	h.inBlock = copy(h.block[:], p)
	return n, nil
}

func (h *FileHasher) leaf(b []byte) {
	h.leaves = append(h.leaves, sha256.Sum256(b))
	if int64(len(h.leaves))*BlockSize == h.pieceLength {
		h.layer = append(h.layer, subtreeRoot(h.leaves, Hash256{}, len(h.leaves)))
		h.leaves = h.leaves[:0]
	}
}

// Sum returns the pieces root of the bytes written and the piece layer
// ('piece layers' value: nil for a file of one piece or less), and the
// file's length. A file of no bytes has no root: ok is false.
func (h *FileHasher) Sum() (root Hash256, layer []byte, ok bool) {
	if h.length == 0 {
		return Hash256{}, nil, false
	}
	leaves := h.leaves
	if h.inBlock > 0 {
		leaves = append(leaves, sha256.Sum256(h.block[:h.inBlock]))
	}
	pieces := append([]Hash256(nil), h.layer...)
	if len(leaves) > 0 {
		pieces = append(pieces, pieceHash(append([]Hash256(nil), leaves...), h.pieceLength, h.length))
	}
	if h.length > h.pieceLength {
		layer = make([]byte, 0, len(pieces)*Hash256Size)
		for _, p := range pieces {
			layer = append(layer, p[:]...)
		}
	}
	return fileRoot(pieces, h.pieceLength, h.length), layer, true
}

// hashesOf splits the first n hashes of b, n*Hash256Size bytes at least,
// into a slice.
func hashesOf(b []byte, n int) []Hash256 {
	nodes := make([]Hash256, n)
	for i := range nodes {
		copy(nodes[i][:], b[i*Hash256Size:])
	}
	return nodes
}
