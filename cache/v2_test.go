package cache

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/torfs/torfs/metainfo"
)

// TestV2OnlyPieces: a v2-only torrent's pieces are verified by their BEP
// 52 hashes (written in order, and out of order), a wrong byte fails,
// and the resume state keeps what verified.
func TestV2OnlyPieces(t *testing.T) {
	src := filepath.Join(t.TempDir(), "v2")
	os.MkdirAll(src, 0o755)
	sizes := map[string]int{"a": 100000, "b": 5000, "c": 65536}
	for name, n := range sizes {
		os.WriteFile(filepath.Join(src, name), bytes.Repeat([]byte(name), n), 0o644)
	}
	mi, err := metainfo.Create(context.Background(), src, metainfo.CreateOptions{PieceLength: 32 << 10, Version: metainfo.V2})
	if err != nil {
		t.Fatal(err)
	}
	in := &mi.Info
	piece := func(p int) []byte {
		b := make([]byte, in.PieceSize(p))
		for _, s := range in.PieceSpans(p) {
			if f := in.Files[s.File]; !f.Pad {
				data, _ := os.ReadFile(filepath.Join(src, f.Path[0]))
				copy(b[in.Files[s.File].Offset+s.Offset-in.PieceOffset(p):], data[s.Offset:s.Offset+s.Length])
			}
		}
		return b
	}

	dir := t.TempDir()
	if _, err := Open(in, Options{Dir: dir}); err == nil {
		t.Fatal("Open of a v2-only torrent without its piece hashes")
	}
	noLayers := *mi
	noLayers.PieceLayers = nil
	if _, err := Open(in, Options{Dir: dir, PieceHashV2: noLayers.PieceHashV2}); !errors.Is(err, metainfo.ErrV2Only) {
		t.Fatalf("Open with piece hashes missing: %v", err)
	}
	opts := Options{Dir: dir, StateFile: filepath.Join(dir, "state"), PieceHashV2: mi.PieceHashV2}
	c, err := Open(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	for p := range in.NumPieces() {
		bad := bytes.Clone(piece(p))
		bad[100] ^= 1 // within the file: pad bytes are never stored
		if err := writePiece(c, p, bad, 16<<10); err != nil {
			t.Fatal(err)
		}
		if ok, err := c.Verify(p); ok || err != nil {
			t.Fatalf("Verify of a corrupt piece %d = %v, %v", p, ok, err)
		}
		// In order this time: hashed as the blocks arrive.
		for off := 0; off < len(piece(p)); off += 16 << 10 {
			if err := c.WriteBlock(p, int64(off), piece(p)[off:min(off+16<<10, len(piece(p)))]); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := c.Verify(p); !ok || err != nil {
			t.Fatalf("Verify(%d) = %v, %v", p, ok, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for name, n := range sizes {
		if got, _ := os.ReadFile(filepath.Join(dir, "v2", name)); !bytes.Equal(got, bytes.Repeat([]byte(name), n)) {
			t.Errorf("%s does not hold the file", name)
		}
	}
	c, err = Open(in, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for p := range in.NumPieces() {
		if !c.Have(p) && !c.Unproven(p) {
			t.Errorf("piece %d lost across a reopen", p)
		}
		if ok, err := c.Prove(p); !ok || err != nil {
			t.Errorf("Prove(%d) = %v, %v", p, ok, err)
		}
	}
}
