package metainfo

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// hashedFile returns the pieces root and piece layer of n pseudo-random
// bytes in pieces of pl.
func hashedFile(t *testing.T, n, pl int64) (Hash256, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(n), byte(pl >> 14)}).Read(data)
	h := NewFileHasher(pl)
	h.Write(data)
	root, layer, ok := h.Sum()
	if !ok || layer == nil {
		t.Fatalf("%d bytes in pieces of %d: no layer", n, pl)
	}
	return root, layer
}

// Every part LayerParts asks for, answered by a HashTree, verifies and
// together they rebuild the piece layer; a changed hash or uncle does
// not verify.
func TestLayerPartsServedAndVerified(t *testing.T) {
	for _, c := range []struct{ n, pl int64 }{
		{2*BlockSize + 5, BlockSize},       // 3 pieces
		{4 * 64 << 10, 64 << 10},           // exactly 4 pieces
		{2<<20 + 5, 64 << 10},              // 33 pieces
		{1100*BlockSize + 1, BlockSize},    // 1101 pieces: 3 parts, with uncles
		{512*BlockSize + 3, BlockSize * 2}, // 257 pieces, padded to 512
		{513 * BlockSize, BlockSize},       // 513 pieces: a last part of 1 piece and its padding
		{1024*BlockSize + 7, BlockSize},    // 1025 pieces: the same two layers further up
	} {
		root, layer := hashedFile(t, c.n, c.pl)
		tree, err := NewHashTree(root, layer, c.pl, c.n)
		if err != nil {
			t.Fatalf("%d/%d: %v", c.n, c.pl, err)
		}
		parts := LayerParts(root, c.pl, c.n)
		var got []byte
		for _, r := range parts {
			if r.Length < 2 {
				t.Fatalf("%d/%d: part %+v asks for fewer than the 2 hashes peers serve", c.n, c.pl, r)
			}
			ans, err := tree.Hashes(nil, r)
			if err != nil {
				t.Fatalf("%d/%d: serving %+v: %v", c.n, c.pl, r, err)
			}
			hashes, err := VerifyLayerPart(r, c.pl, c.n, ans)
			if err != nil {
				t.Fatalf("%d/%d: verifying %+v: %v", c.n, c.pl, r, err)
			}
			got = append(got, hashes...)
			for _, at := range []int{0, len(ans) - 1} {
				bad := bytes.Clone(ans)
				bad[at] ^= 1
				if _, err := VerifyLayerPart(r, c.pl, c.n, bad); !errors.Is(err, ErrBadHashes) {
					t.Fatalf("%d/%d: %+v with byte %d changed: %v, want ErrBadHashes", c.n, c.pl, r, at, err)
				}
			}
			if _, err := VerifyLayerPart(r, c.pl, c.n, ans[:len(ans)-Hash256Size]); !errors.Is(err, ErrBadHashes) {
				t.Fatalf("%d/%d: %+v one hash short: %v, want ErrBadHashes", c.n, c.pl, r, err)
			}
			odd := r
			odd.Length = 1
			if _, err := VerifyLayerPart(odd, c.pl, c.n, ans); err == nil || errors.Is(err, ErrBadHashes) {
				t.Fatalf("%d/%d: a run of 1 verified or blamed the peer: %v", c.n, c.pl, err)
			}
		}
		if !bytes.Equal(got, layer) {
			t.Fatalf("%d/%d: %d parts rebuilt %d bytes of layer, want the %d of the file", c.n, c.pl, len(parts), len(got), len(layer))
		}
	}
}

// A request the tree cannot or will not answer is refused, not served
// and not a panic: the numbers come from a peer.
func TestHashTreeRefusesSillyRuns(t *testing.T) {
	pl := int64(BlockSize)
	root, layer := hashedFile(t, 40*BlockSize, pl) // 40 pieces: height 6
	tree, err := NewHashTree(root, layer, pl, 40*BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	ok := HashRun{Root: root, Base: 0, Index: 0, Length: 64, ProofLayers: 5}
	if _, err := tree.Hashes(nil, ok); err != nil {
		t.Fatalf("%+v refused: %v", ok, err)
	}
	big := 1 << 31
	for _, r := range []HashRun{
		{Base: -1, Length: 2},
		{Base: 6, Length: 2},
		{Base: big, Length: 2},
		{Length: 0},
		{Length: 1},
		{Length: 3},
		{Length: MaxHashRun * 2},
		{Length: big},
		{Index: 1, Length: 2},
		{Index: -2, Length: 2},
		{Index: 64, Length: 2},
		{Index: big - 2, Length: 2},
		{Length: 2, ProofLayers: 6},
		{Length: 2, ProofLayers: -1},
		{Length: 2, ProofLayers: big},
	} {
		if b, err := tree.Hashes(nil, r); err == nil {
			t.Errorf("%+v answered with %d bytes", r, len(b))
		}
	}
	if _, err := NewHashTree(root, layer[:len(layer)-Hash256Size], pl, 40*BlockSize); err == nil {
		t.Error("a short layer built a tree")
	}
	other := bytes.Clone(layer)
	other[0] ^= 1
	if _, err := NewHashTree(root, other, pl, 40*BlockSize); err == nil {
		t.Error("a layer that does not hash to the root built a tree")
	}
}
