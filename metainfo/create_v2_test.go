package metainfo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCreateV2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	content := map[string][]byte{
		"sub.txt":  bytes.Repeat([]byte("a"), 70001),
		"sub/x":    bytes.Repeat([]byte("b"), 100000),
		"sub/tiny": []byte("c"),
		"empty":    nil,
	}
	for p, b := range content {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const pl = 32 << 10
	for _, v := range []Version{V2, Hybrid} {
		mi, err := Create(context.Background(), dir, CreateOptions{PieceLength: pl, Version: v, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if mi.Version() != v {
			t.Errorf("%v: made a %v torrent", v, mi.Version())
		}
		var order []string
		for _, f := range mi.Info.Files {
			if f.Pad {
				continue
			}
			p := strings.Join(f.Path, "/")
			order = append(order, p)
			if f.Length > 0 && f.Offset%pl != 0 {
				t.Errorf("%v: %s at %d, not at a piece boundary", v, p, f.Offset)
			}
			h := NewFileHasher(pl)
			h.Write(content[p])
			root, layer, _ := h.Sum()
			if f.PiecesRoot != root {
				t.Errorf("%v: %s: pieces root %s, want %s", v, p, f.PiecesRoot, root)
			}
			if !bytes.Equal(mi.PieceLayers[root], layer) {
				t.Errorf("%v: %s: piece layer differs", v, p)
			}
		}
		// Component by component: the directory "sub" before "sub.txt".
		if got := strings.Join(order, " "); got != "empty sub/tiny sub/x sub.txt" {
			t.Errorf("%v: file order %s", v, got)
		}
	}
	if _, err := Create(context.Background(), dir, CreateOptions{PieceLength: 3 * BlockSize, Version: V2}); err == nil || !strings.Contains(err.Error(), "power of two") {
		t.Errorf("a piece length of 48 KiB: %v", err)
	}
}

// BenchmarkCreateVersions creates v1, v2 and hybrid torrents of the same
// 64 MiB (warm in the page cache) in one run and reports each one's time
// over v1's: what the merkle hashing costs over SHA-1 alone.
func BenchmarkCreateVersions(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "d")
	os.MkdirAll(dir, 0o755)
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	for i := range 4 {
		os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), data[:len(data)-i*1000], 0o644)
	}
	var took [3]time.Duration
	for b.Loop() {
		for i, v := range []Version{V1, V2, Hybrid} {
			start := time.Now()
			if _, err := Create(context.Background(), dir, CreateOptions{PieceLength: 1 << 20, Version: v}); err != nil {
				b.Fatal(err)
			}
			took[i] += time.Since(start)
		}
	}
	b.ReportMetric(float64(took[1])/float64(took[0]), "v2/v1")
	b.ReportMetric(float64(took[2])/float64(took[0]), "hybrid/v1")
}
