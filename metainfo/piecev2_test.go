package metainfo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestPieceHasherV2 hashes every piece of torrents made by Create, from
// the torrent's byte space (pad files as zeros), in odd chunks, and
// compares with PieceHashV2.
func TestPieceHasherV2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	os.MkdirAll(dir, 0o755)
	sizes := map[string]int{"a": 100000, "b": 5000, "c": 65536, "d": 1}
	for name, n := range sizes {
		os.WriteFile(filepath.Join(dir, name), bytes.Repeat([]byte(name), n), 0o644)
	}
	const pl = 32 << 10
	for _, v := range []Version{V2, Hybrid} {
		mi, err := Create(context.Background(), dir, CreateOptions{PieceLength: pl, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		in := &mi.Info
		if in.NumPieces() != 4+1+2+1 {
			t.Fatalf("%v: %d pieces", v, in.NumPieces())
		}
		for p := range in.NumPieces() {
			var data []byte
			for _, s := range in.PieceSpans(p) {
				f := in.Files[s.File]
				chunk := make([]byte, s.Length)
				if !f.Pad {
					b, _ := os.ReadFile(filepath.Join(dir, f.Path[0]))
					copy(chunk, b[s.Offset:])
				}
				data = append(data, chunk...)
			}
			want, ok := mi.PieceHashV2(p)
			if !ok {
				t.Fatalf("%v: piece %d has no expected hash", v, p)
			}
			h := in.NewPieceHasherV2(p)
			for off := 0; off < len(data); off += 7777 {
				h.Write(data[off:min(off+7777, len(data))])
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("%v: piece %d hashes to %x, want %s", v, p, got, want)
			}
			h.Reset()
			h.Write(data)
			if !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("%v: piece %d: Reset did not start over", v, p)
			}
			data[0] ^= 1
			h.Reset()
			h.Write(data)
			if bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("%v: piece %d: a changed byte still matches", v, p)
			}
		}
		mi.PieceLayers = nil
		if _, ok := mi.PieceHashV2(0); ok {
			t.Errorf("%v: an expected hash without the layer", v)
		}
		if _, ok := mi.PieceHashV2(4); !ok {
			t.Errorf("%v: no expected hash for a file of one piece", v)
		}
	}
	v1, err := Create(context.Background(), dir, CreateOptions{PieceLength: pl})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v1.PieceHashV2(0); ok || v1.Info.NewPieceHasherV2(0) != nil {
		t.Error("v2 hashes for a v1 torrent")
	}
}
