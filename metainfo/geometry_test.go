package metainfo

import (
	"crypto/sha1"
	"fmt"
	"reflect"
	"testing"
)

// layout builds an Info from file lengths; a negative length marks a pad
// file of that (positive) length.
func layout(pieceLen int64, lengths ...int64) *Info {
	info := &Info{Name: "t", PieceLength: pieceLen, MultiFile: true}
	for i, n := range lengths {
		f := File{Path: []string{fmt.Sprint("f", i)}, Offset: info.Length, Length: n}
		if n < 0 {
			f.Length, f.Pad = -n, true
		}
		info.Length += f.Length
		info.Files = append(info.Files, f)
	}
	np := (info.Length + pieceLen - 1) / pieceLen
	info.Pieces = make([]byte, np*HashSize)
	for p := range np {
		sum := sha1.Sum([]byte{byte(p)})
		copy(info.Pieces[p*HashSize:], sum[:])
	}
	return info
}

func TestPieceSizes(t *testing.T) {
	tests := []struct {
		name   string
		info   *Info
		sizes  []int64
		starts []int64
	}{
		{"exact", layout(10, 30), []int64{10, 10, 10}, []int64{0, 10, 20}},
		{"last short", layout(10, 25), []int64{10, 10, 5}, []int64{0, 10, 20}},
		{"one short piece", layout(16384, 425), []int64{425}, []int64{0}},
		{"files sum", layout(8, 3, 0, 6, -2, 1), []int64{8, 4}, []int64{0, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := tt.info.NumPieces(); n != len(tt.sizes) {
				t.Fatalf("NumPieces = %d, want %d", n, len(tt.sizes))
			}
			for p := range tt.sizes {
				if got := tt.info.PieceSize(p); got != tt.sizes[p] {
					t.Errorf("PieceSize(%d) = %d, want %d", p, got, tt.sizes[p])
				}
				if got := tt.info.PieceOffset(p); got != tt.starts[p] {
					t.Errorf("PieceOffset(%d) = %d, want %d", p, got, tt.starts[p])
				}
				want := sha1.Sum([]byte{byte(p)})
				if got := tt.info.PieceHash(p); got != Hash(want) {
					t.Errorf("PieceHash(%d) = %s, want %x", p, got, want)
				}
			}
		})
	}
}

func TestPieceSpans(t *testing.T) {
	tests := []struct {
		name  string
		info  *Info
		piece int
		want  []Span
	}{
		{"inside one file", layout(10, 30), 1, []Span{{0, 10, 10}}},
		{"crossing a boundary", layout(10, 15, 15), 1, []Span{{0, 10, 5}, {1, 0, 5}}},
		{"spanning three files", layout(10, 4, 2, 9), 0, []Span{{0, 0, 4}, {1, 0, 2}, {2, 0, 4}}},
		{"zero-length files skipped", layout(10, 5, 0, 0, 10), 0, []Span{{0, 0, 5}, {3, 0, 5}}},
		{"zero-length file first", layout(10, 0, 12), 1, []Span{{1, 10, 2}}},
		{"pad file included", layout(8, 5, -3, 8), 0, []Span{{0, 0, 5}, {1, 0, 3}}},
		{"after a pad", layout(8, 5, -3, 8), 1, []Span{{2, 0, 8}}},
		{"last short piece", layout(10, 7, 16), 2, []Span{{1, 13, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.info.PieceSpans(tt.piece)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PieceSpans(%d) = %v, want %v", tt.piece, got, tt.want)
			}
			var sum int64
			for _, s := range got {
				sum += s.Length
			}
			if sum != tt.info.PieceSize(tt.piece) {
				t.Errorf("spans cover %d bytes, piece is %d", sum, tt.info.PieceSize(tt.piece))
			}
		})
	}
}

func TestSpansRanges(t *testing.T) {
	info := layout(10, 4, 0, 6, 20)
	tests := []struct {
		off, n int64
		want   []Span
	}{
		{0, 0, nil},
		{-1, 5, nil},
		{30, 5, nil},
		{0, 100, []Span{{0, 0, 4}, {2, 0, 6}, {3, 0, 20}}},
		{3, 2, []Span{{0, 3, 1}, {2, 0, 1}}},
		{4, 6, []Span{{2, 0, 6}}},
		{29, 10, []Span{{3, 19, 1}}},
	}
	for _, tt := range tests {
		if got := info.Spans(tt.off, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Spans(%d, %d) = %v, want %v", tt.off, tt.n, got, tt.want)
		}
	}
	// EachSpan stops when told to.
	calls := 0
	info.EachSpan(0, 30, func(Span) bool { calls++; return false })
	if calls != 1 {
		t.Errorf("EachSpan called f %d times after it returned false", calls)
	}
}

func TestPieceRange(t *testing.T) {
	info := layout(10, 25)
	tests := []struct {
		off, n      int64
		first, last int
	}{
		{0, 1, 0, 0},
		{0, 10, 0, 0},
		{0, 11, 0, 1},
		{9, 2, 0, 1},
		{20, 100, 2, 2},
		{24, 1, 2, 2},
		{0, 0, 0, -1},
		{25, 1, 0, -1},
		{-5, 3, 0, -1},
	}
	for _, tt := range tests {
		f, l := info.PieceRange(tt.off, tt.n)
		if f != tt.first || l != tt.last {
			t.Errorf("PieceRange(%d, %d) = %d, %d; want %d, %d", tt.off, tt.n, f, l, tt.first, tt.last)
		}
	}
}

func TestFilePieces(t *testing.T) {
	info := layout(10, 15, 0, -5, 12)
	tests := []struct {
		file        int
		off, n      int64
		first, last int
	}{
		{0, 0, 15, 0, 1},
		{0, 10, 1, 1, 1},
		{0, 14, 100, 1, 1},
		{1, 0, 10, 0, -1}, // zero-length file covers nothing
		{3, 0, 12, 2, 3},
		{3, 11, 1, 3, 3},
		{3, 12, 1, 0, -1},
		{3, -1, 1, 0, -1},
	}
	for _, tt := range tests {
		f, l := info.FilePieces(tt.file, tt.off, tt.n)
		if f != tt.first || l != tt.last {
			t.Errorf("FilePieces(%d, %d, %d) = %d, %d; want %d, %d", tt.file, tt.off, tt.n, f, l, tt.first, tt.last)
		}
	}
}

func TestEachSpanAllocs(t *testing.T) {
	info := layout(16384, 1000, 20000, 0, 50000, 3)
	var total int64
	allocs := testing.AllocsPerRun(100, func() {
		info.EachSpan(500, 60000, func(s Span) bool { total += s.Length; return true })
	})
	if allocs != 0 {
		t.Errorf("EachSpan allocates %.0f times per call", allocs)
	}
}

func BenchmarkEachSpan(b *testing.B) {
	lengths := make([]int64, 10000)
	for i := range lengths {
		lengths[i] = int64(1000 + i)
	}
	info := layout(1<<20, lengths...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := i % info.NumPieces()
		info.EachSpan(info.PieceOffset(p), info.PieceSize(p), func(Span) bool { return true })
	}
}
