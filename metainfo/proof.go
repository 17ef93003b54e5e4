package metainfo

import (
	"errors"
	"fmt"
)

// BEP 52 peers exchange runs of a file's merkle tree nodes (hash request,
// hashes, hash reject messages): Length nodes from Index in the layer
// Base levels above the 16 KiB blocks, followed by the uncle hashes that
// prove them up to ProofLayers levels above Base. torfs asks for and
// serves piece layers and the layers above them, never block hashes: it
// verifies whole pieces, and holds no block layer to serve.

// MaxHashRun bounds the nodes of one hash request torfs answers or makes
// (libtorrent's bound: 8192 hashes, 256 KiB).
const MaxHashRun = 8192

// LayerPartLen is how many piece hashes torfs asks one peer for at once
// (as libtorrent does: 16 KiB of hashes).
const LayerPartLen = 512

// ErrBadHashes is the error VerifyLayerPart wraps when the fault is the
// peer's: hashes of the wrong size for the run asked, or that do not
// hash up to the pieces root. Any other error is the run's own.
var ErrBadHashes = errors.New("a peer's hashes are wrong")

// HashRun names nodes of a file's merkle tree and the proof asked for
// them, as the BEP 52 hash messages do.
type HashRun struct {
	Root        Hash256 // the file's pieces root
	Base        int     // layer: levels above the 16 KiB blocks
	Index       int     // first node in that layer
	Length      int     // nodes
	ProofLayers int     // uncles prove the run up to this many levels above Base
}

// Uncles returns how many uncle hashes follow the run's nodes: one per
// level from the run's own subtree root up to ProofLayers above Base.
func (r HashRun) Uncles() int {
	return max(0, r.ProofLayers-log2(pow2(int64(r.Length)))+1)
}

// fileTree is the shape of one file's merkle tree.
type fileTree struct {
	pieceLayer int // level of the piece layer
	height     int // level of the root
	pieces     int // real nodes in the piece layer
}

func newFileTree(pieceLength, fileLength int64) fileTree {
	return fileTree{
		pieceLayer: log2(pieceLength / BlockSize),
		height:     log2(pow2(blocks(fileLength))),
		pieces:     int((fileLength + pieceLength - 1) / pieceLength),
	}
}

// check tells whether r is a run torfs serves or accepts in a tree of
// this shape: in a layer from the piece layer up, below the root, a
// power of two of at least 2 and at most MaxHashRun nodes, aligned to
// its length and inside the layer, with a proof that stops below the
// root.
func (t fileTree) check(r HashRun) error {
	switch {
	case r.Base < t.pieceLayer || r.Base >= t.height:
		return fmt.Errorf("layer %d: only layers %d (pieces) to %d are served", r.Base, t.pieceLayer, t.height-1)
	case r.Length < 2 || r.Length > MaxHashRun || r.Length&(r.Length-1) != 0:
		return fmt.Errorf("length %d is not a power of two from 2 to %d", r.Length, MaxHashRun)
	case r.Index < 0 || r.Index%r.Length != 0:
		return fmt.Errorf("index %d is not a multiple of the length %d", r.Index, r.Length)
	case int64(r.Index)+int64(r.Length) > 1<<(t.height-r.Base):
		return fmt.Errorf("nodes %d+%d lie past the %d of layer %d", r.Index, r.Length, 1<<(t.height-r.Base), r.Base)
	case r.ProofLayers < 0 || r.ProofLayers >= t.height-r.Base:
		return fmt.Errorf("%d proof layers reach past the root, %d layers up", r.ProofLayers, t.height-r.Base)
	}
	return nil
}

// A HashTree is one file's merkle tree from its piece layer up, to
// answer peers' hash requests.
type HashTree struct {
	shape  fileTree
	layers [][]Hash256 // from the piece layer up; each without its padding
	pads   []Hash256   // the padding node of each layer
}

// NewHashTree builds the tree of a file of fileLength bytes, larger than
// a piece, from its piece layer (as in 'piece layers'), checking that it
// hashes up to root.
func NewHashTree(root Hash256, layer []byte, pieceLength, fileLength int64) (*HashTree, error) {
	if fileLength <= pieceLength {
		return nil, errors.New("a file of one piece has no piece layer")
	}
	shape := newFileTree(pieceLength, fileLength)
	if len(layer) != shape.pieces*Hash256Size {
		return nil, fmt.Errorf("a piece layer of %d bytes for a file of %d pieces", len(layer), shape.pieces)
	}
	t := &HashTree{shape: shape}
	nodes := hashesOf(layer, shape.pieces)
	pad := zeroSubtree(shape.pieceLayer)
	for {
		t.layers = append(t.layers, nodes)
		t.pads = append(t.pads, pad)
		if len(t.layers) > shape.height-shape.pieceLayer {
			break
		}
		up := make([]Hash256, (len(nodes)+1)/2)
		for i := range up {
			right := pad
			if 2*i+1 < len(nodes) {
				right = nodes[2*i+1]
			}
			up[i] = hashPair(nodes[2*i], right)
		}
		nodes, pad = up, hashPair(pad, pad)
	}
	if got := t.layers[len(t.layers)-1][0]; got != root {
		return nil, fmt.Errorf("the piece layer hashes to %s, not to the pieces root %s", got, root)
	}
	return t, nil
}

func (t *HashTree) node(level, i int) Hash256 {
	l := t.layers[level-t.shape.pieceLayer]
	if i < len(l) {
		return l[i]
	}
	return t.pads[level-t.shape.pieceLayer]
}

// Hashes returns the answer to a request for r: the run's nodes then its
// uncles, 32 bytes each, appended to b; or an error saying why r is not
// served (the peer gets a hash reject).
func (t *HashTree) Hashes(b []byte, r HashRun) ([]byte, error) {
	if err := t.shape.check(r); err != nil {
		return b, err
	}
	for i := r.Index; i < r.Index+r.Length; i++ {
		h := t.node(r.Base, i)
		b = append(b, h[:]...)
	}
	up := log2(int64(r.Length))
	for k := range r.Uncles() {
		level := r.Base + up + k
		h := t.node(level, (r.Index>>(up+k))^1)
		b = append(b, h[:]...)
	}
	return b, nil
}

// LayerParts returns the runs to ask peers for to learn the piece layer
// of a file of fileLength bytes with pieces root root, each with the
// proof up to the root: none for a file of one piece or less.
func LayerParts(root Hash256, pieceLength, fileLength int64) []HashRun {
	if fileLength <= pieceLength {
		return nil
	}
	shape := newFileTree(pieceLength, fileLength)
	var out []HashRun
	for i := 0; i < shape.pieces; i += LayerPartLen {
		// A last part of one piece (513, 1025, ... pieces) asks for 2:
		// peers refuse runs of 1 (libtorrent is inconsistent about
		// them), and the padding node beside the piece lies inside the
		// layer (the file has more than 512 pieces, so a power of two
		// above 512 of them) and is proven by the root like the rest.
		n := int(min(LayerPartLen, max(2, pow2(int64(shape.pieces-i)))))
		out = append(out, HashRun{Root: root, Base: shape.pieceLayer, Index: i, Length: n, ProofLayers: shape.height - shape.pieceLayer - 1})
	}
	return out
}

// VerifyLayerPart checks hashes, a peer's answer to r (one of LayerParts
// for the file), against the file's pieces root: the run's nodes must
// hash, with the uncles that follow them, up to the root. It returns the
// run's piece hashes that belong to the file (the padding past its last
// piece left out), 32 bytes each, aliasing hashes. An error wrapping
// ErrBadHashes blames the peer; any other says r itself is not a part to
// ask for.
func VerifyLayerPart(r HashRun, pieceLength, fileLength int64, hashes []byte) ([]byte, error) {
	if fileLength <= pieceLength {
		return nil, errors.New("a file of one piece has no piece layer")
	}
	shape := newFileTree(pieceLength, fileLength)
	if err := shape.check(r); err != nil {
		return nil, err
	}
	if r.Base != shape.pieceLayer || r.ProofLayers != shape.height-r.Base-1 {
		return nil, fmt.Errorf("layer %d with %d proof layers is not a piece layer part proven to the root", r.Base, r.ProofLayers)
	}
	uncles := r.Uncles()
	if len(hashes) != (r.Length+uncles)*Hash256Size {
		return nil, fmt.Errorf("%w: %d bytes of hashes, want %d nodes and %d uncles", ErrBadHashes, len(hashes), r.Length, uncles)
	}
	nodes := hashesOf(hashes, r.Length)
	h := subtreeRoot(nodes, Hash256{}, r.Length)
	pos := r.Index >> log2(int64(r.Length))
	for k := range uncles {
		var u Hash256
		copy(u[:], hashes[(r.Length+k)*Hash256Size:])
		if pos&1 == 0 {
			h = hashPair(h, u)
		} else {
			h = hashPair(u, h)
		}
		pos >>= 1
	}
	if h != r.Root {
		return nil, fmt.Errorf("%w: the hashes of pieces %d+%d do not hash up to the file's pieces root", ErrBadHashes, r.Index, r.Length)
	}
	real := max(0, min(r.Length, shape.pieces-r.Index))
	return hashes[:real*Hash256Size], nil
}
