package metainfo

import (
	"context"
	"crypto/sha1"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeTree creates files (path -> size) under dir with pseudo-random
// content and returns the content of each.
func writeTree(t testing.TB, dir string, files map[string]int) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	out := make(map[string][]byte)
	for p, n := range files {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// expectPieces hashes the concatenation of blobs in pieces of pl bytes.
func expectPieces(pl int64, blobs ...[]byte) []byte {
	all := slices.Concat(blobs...)
	var out []byte
	for off := int64(0); off < int64(len(all)); off += pl {
		sum := sha1.Sum(all[off:min(off+pl, int64(len(all)))])
		out = append(out, sum[:]...)
	}
	return out
}

func TestCreateDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	content := writeTree(t, root, map[string]int{
		"sub.txt": 1000, "sub/x": 70000, ".hidden": 5, "empty": 0, "a/b/c/deep.bin": 40000, "Z": 3,
	})
	if err := os.Symlink("sub.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls []int64
	date := time.Unix(1700000000, 0)
	mi, err := Create(context.Background(), root, CreateOptions{
		PieceLength: 32 << 10,
		Trackers:    [][]string{{"http://t1/announce"}, {"http://t2/announce"}},
		WebSeeds:    []string{"http://seed/"},
		Comment:     "test", Private: true, CreationDate: date, Workers: 3,
		Progress: func(done, total int64) { calls = append(calls, done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Byte order of the whole path: '.' (0x2e) < '/' (0x2f) < 'Z' < 'a'.
	order := []string{".hidden", "Z", "a/b/c/deep.bin", "empty", "link", "sub.txt", "sub/x"}
	var got []string
	for _, f := range mi.Info.Files {
		got = append(got, strings.Join(f.Path, "/"))
	}
	if !slices.Equal(got, order) {
		t.Fatalf("files %q, want %q", got, order)
	}
	content["link"] = content["sub.txt"]
	var blobs [][]byte
	for _, p := range order {
		blobs = append(blobs, content[p])
	}
	want := expectPieces(32<<10, blobs...)
	if !slices.Equal(mi.Info.Pieces, want) {
		t.Error("piece hashes differ from a straight SHA-1 of the concatenated files")
	}
	if mi.Info.Name != "data" || !mi.Info.MultiFile || !mi.Info.Private || mi.Comment != "test" ||
		!slices.Equal(mi.URLList, []string{"http://seed/"}) || len(mi.Trackers()) != 2 || !mi.CreationDate.Equal(date) {
		t.Errorf("metadata: %+v", mi)
	}
	if len(calls) == 0 || calls[len(calls)-1] != mi.Info.Length || !slices.IsSorted(calls) {
		t.Errorf("progress calls %v, want increasing up to %d", calls, mi.Info.Length)
	}
	// The returned MetaInfo is exactly what a reader of the file sees.
	data, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil || back.InfoHash != mi.InfoHash {
		t.Fatalf("re-parse: %v", err)
	}
}

func TestCreateSingleFile(t *testing.T) {
	dir := t.TempDir()
	content := writeTree(t, dir, map[string]int{"movie.mkv": 100_003})
	for _, workers := range []int{1, 2, 7} {
		mi, err := Create(context.Background(), filepath.Join(dir, "movie.mkv"), CreateOptions{
			PieceLength: 16 << 10, Trackers: [][]string{{"http://t/a"}}, Workers: workers,
		})
		if err != nil {
			t.Fatal(err)
		}
		if mi.Info.MultiFile || mi.Info.Name != "movie.mkv" || mi.Info.Length != 100_003 || mi.Announce != "http://t/a" || len(mi.AnnounceList) != 0 {
			t.Errorf("workers %d: %+v", workers, mi)
		}
		if !slices.Equal(mi.Info.Pieces, expectPieces(16<<10, content["movie.mkv"])) {
			t.Errorf("workers %d: wrong piece hashes", workers)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := Create(ctx, filepath.Join(dir, "missing"), CreateOptions{}); err == nil {
		t.Error("missing path: no error")
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := Create(ctx, empty, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(empty, "zero"), nil, 0o644)
	if _, err := Create(ctx, empty, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("only empty files: %v", err)
	}
	loop := filepath.Join(dir, "loop")
	writeTree(t, loop, map[string]int{"f": 10})
	os.Symlink("..", filepath.Join(loop, "up"))
	if _, err := Create(ctx, loop, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("symlink loop: %v", err)
	}
	dangling := filepath.Join(dir, "dangling")
	writeTree(t, dangling, map[string]int{"f": 10})
	os.Symlink("nowhere", filepath.Join(dangling, "bad"))
	if _, err := Create(ctx, dangling, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "dangling") {
		t.Errorf("dangling symlink: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	writeTree(t, bad, map[string]int{`a\b`: 10})
	if _, err := Create(ctx, bad, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "separator") {
		t.Errorf("backslash in a name: %v", err)
	}
	big := filepath.Join(dir, "big")
	writeTree(t, big, map[string]int{"f": 1 << 20})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Create(cctx, big, CreateOptions{PieceLength: 16 << 10}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if _, err := Create(ctx, big, CreateOptions{PieceLength: 1 << 40}); err == nil {
		t.Error("huge piece length: no error")
	}
}

func TestAutoPieceLength(t *testing.T) {
	tests := []struct{ total, want int64 }{
		{1, 16 << 10},
		{2000 * 16 << 10, 16 << 10},
		{2000*16<<10 + 1, 32 << 10},
		{700 << 20, 512 << 10},
		{1 << 30, 1 << 20},
		{4 << 30, 4 << 20},
		{1 << 40, 16 << 20},
	}
	for _, tt := range tests {
		if got := AutoPieceLength(tt.total); got != tt.want {
			t.Errorf("AutoPieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
	}
}

func BenchmarkCreate(b *testing.B) {
	dir := b.TempDir()
	writeTree(b, dir, map[string]int{"f": 64 << 20})
	path := filepath.Join(dir, "f")
	b.SetBytes(64 << 20)
	for b.Loop() {
		if _, err := Create(context.Background(), path, CreateOptions{PieceLength: 256 << 10}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStreamReadAt(t *testing.T) {
	dir := t.TempDir()
	content := writeTree(t, dir, map[string]int{"a": 5, "b": 0, "c": 7})
	files := []srcFile{
		{abs: filepath.Join(dir, "a"), size: 5},
		{abs: filepath.Join(dir, "b"), size: 0},
		{abs: filepath.Join(dir, "c"), size: 7},
	}
	r := &reader{s: newStream(files)}
	defer r.close()
	all := slices.Concat(content["a"], content["c"])
	for off := range int64(12) {
		for n := int64(1); off+n <= 12; n++ {
			b := make([]byte, n)
			if err := r.readAt(b, off); err != nil || !slices.Equal(b, all[off:off+n]) {
				t.Fatalf("readAt(%d, %d) = %x, %v; want %x", off, n, b, err, all[off:off+n])
			}
		}
	}
	// A file shorter than when it was listed is an error, not zeros.
	files[2].size = 9
	r2 := &reader{s: newStream(files)}
	defer r2.close()
	if err := r2.readAt(make([]byte, 4), 10); err == nil || !strings.Contains(err.Error(), "shrank") {
		t.Errorf("reading past a shrunk file: %v", err)
	}
}
