package metainfo

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
	"time"
)

// naiveRoot builds a file's whole merkle tree the way BEP 52 describes
// it: every 16 KiB block a leaf, zero leaves up to a power of two (at
// least a piece's worth for a file larger than a piece), pairs hashed up.
func naiveRoot(data []byte, pieceLength int64) (root Hash256, layer []byte) {
	var leaves []Hash256
	for off := 0; off < len(data); off += BlockSize {
		leaves = append(leaves, sha256.Sum256(data[off:min(off+BlockSize, len(data))]))
	}
	width := 1
	for width < len(leaves) {
		width *= 2
	}
	perPiece := int(pieceLength / BlockSize)
	big := int64(len(data)) > pieceLength
	if big && width < perPiece {
		width = perPiece
	}
	for len(leaves) < width {
		leaves = append(leaves, Hash256{})
	}
	for level := 1; len(leaves) > 1; level *= 2 {
		if big && level == perPiece {
			for _, h := range leaves[:(int64(len(data))+pieceLength-1)/pieceLength] {
				layer = append(layer, h[:]...)
			}
		}
		next := make([]Hash256, len(leaves)/2)
		for i := range next {
			next[i] = hashPair(leaves[2*i], leaves[2*i+1])
		}
		leaves = next
	}
	return leaves[0], layer
}

func TestFileHasher(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20+3)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	sizes := []int{1, 100, BlockSize - 1, BlockSize, BlockSize + 1, 3 * BlockSize, 4*BlockSize + 5, 64 << 10, 64<<10 + 1, 200000, 1 << 20, 1<<20 + 3}
	for _, pl := range []int64{BlockSize, 32 << 10, 64 << 10, 1 << 20} {
		for _, n := range sizes {
			want, wantLayer := naiveRoot(data[:n], pl)
			for _, chunk := range []int{1000, BlockSize, 100000} {
				h := NewFileHasher(pl)
				for off := 0; off < n; off += chunk {
					h.Write(data[off:min(off+chunk, n)])
				}
				root, layer, ok := h.Sum()
				if !ok || root != want {
					t.Fatalf("piece length %d, %d bytes in writes of %d: root %s, want %s", pl, n, chunk, root, want)
				}
				if int64(n) <= pl {
					if layer != nil {
						t.Fatalf("piece length %d, %d bytes: a layer for a file of one piece", pl, n)
					}
					continue
				}
				if !bytes.Equal(layer, wantLayer) {
					t.Fatalf("piece length %d, %d bytes: layer of %d bytes differs from the tree's (%d bytes)", pl, n, len(layer), len(wantLayer))
				}
				if got, err := PieceLayerRoot(layer, pl); err != nil || got != want {
					t.Fatalf("piece length %d, %d bytes: PieceLayerRoot = %s, %v; want %s", pl, n, got, err, want)
				}
			}
		}
	}
	if _, _, ok := NewFileHasher(BlockSize).Sum(); ok {
		t.Error("an empty file has a root")
	}
}

func TestPieceLayerRootErrors(t *testing.T) {
	if _, err := PieceLayerRoot(make([]byte, 33), BlockSize); err == nil {
		t.Error("a layer of 33 bytes")
	}
	if _, err := PieceLayerRoot(nil, BlockSize); err == nil {
		t.Error("an empty layer")
	}
	if _, err := PieceLayerRoot(make([]byte, 64), 3*BlockSize); err == nil {
		t.Error("pieces of 48 KiB")
	}
}

// BenchmarkFileHasher hashes 64 MiB through a FileHasher and, in the
// same run, with plain SHA-256 over the same bytes, and reports the ratio
// (the merkle tree's overhead: the goal is to stay within 10% of SHA-256).
func BenchmarkFileHasher(b *testing.B) {
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var merkle, plain float64
	for b.Loop() {
		start := nowNanos()
		h := NewFileHasher(1 << 20)
		for off := 0; off < len(data); off += 256 << 10 {
			h.Write(data[off : off+256<<10])
		}
		h.Sum()
		merkle += float64(nowNanos() - start)
		start = nowNanos()
		for off := 0; off < len(data); off += BlockSize {
			sha256.Sum256(data[off : off+BlockSize])
		}
		plain += float64(nowNanos() - start)
	}
	b.ReportMetric(merkle/plain, "x-sha256")
	b.ReportMetric(float64(b.N)*float64(len(data))/merkle*1e3, "merkle-MB/s")
}

func nowNanos() int64 { return time.Now().UnixNano() }
