package harness

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FileSpec is one file of a test tree: a slash-separated path relative to
// the tree's root, and a size.
type FileSpec struct {
	Path string
	Size int64
}

// RandomFile writes size pseudo-random bytes to path (creating parent
// directories). The same seed gives the same bytes, so a test can rebuild
// expected content instead of keeping it in memory.
func RandomFile(tb testing.TB, path string, size int64, seed uint64) {
	tb.Helper()
	if err := WriteRandomFile(path, size, seed); err != nil {
		tb.Fatal(err)
	}
}

// WriteRandomFile is RandomFile for programs without a testing.TB.
func WriteRandomFile(path string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("random file: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("random file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, randomReader(seed), size); err != nil {
		f.Close()
		return fmt.Errorf("write random file %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write random file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write random file %s: %w", path, err)
	}
	return nil
}

// randomReader is a fast deterministic byte stream (ChaCha8: about 1 GB/s,
// so a 1 GiB benchmark file takes a second, not a minute).
func randomReader(seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "torfs harness random content")
	return rand.NewChaCha8(key)
}

// RandomTree writes every file of spec under dir with pseudo-random
// content derived from seed and the file's path (zero-length files are
// created empty).
func RandomTree(tb testing.TB, dir string, spec []FileSpec, seed uint64) {
	tb.Helper()
	if err := WriteRandomTree(dir, spec, seed); err != nil {
		tb.Fatal(err)
	}
}

// WriteRandomTree is RandomTree for programs without a testing.TB.
func WriteRandomTree(dir string, spec []FileSpec, seed uint64) error {
	for _, f := range spec {
		h := fnv.New64a()
		h.Write([]byte(f.Path))
		if err := WriteRandomFile(filepath.Join(dir, filepath.FromSlash(f.Path)), f.Size, seed^h.Sum64()); err != nil {
			return err
		}
	}
	return nil
}

// MixedTree is a multi-file layout that exercises the awkward geometry for
// a given piece length: nested directories, zero-length files (first,
// middle and last in a directory), files smaller than a piece, pieces
// spanning three files, and a short last piece. Sizes are chosen so that no
// file boundary falls on a piece boundary. pieceLength must be at least 64.
func MixedTree(pieceLength int64) []FileSpec {
	l := pieceLength
	spec := []FileSpec{
		{"a.bin", 2*l + l/3},
		{"b/0-empty", 0},
		{"b/c/deep.bin", 3*l - 11},
		{"b/c/tiny.txt", 1},
		{"b/c/zz-empty", 0},
		{"b/half.bin", l/2 + 7},
		{"d/small.txt", l/5 + 3},
		{"d/three.bin", l/7 + 5},
		{"e.bin", l + l/3 + 1},
	}
	var total int64
	for _, f := range spec {
		total += f.Size
	}
	if total%l == 0 {
		spec[len(spec)-1].Size++ // keep the last piece short
	}
	return spec
}

// TreeSize is the total size of spec's files.
func TreeSize(spec []FileSpec) int64 {
	var n int64
	for _, f := range spec {
		n += f.Size
	}
	return n
}

// AssertSameFile fails the test unless the two files have identical
// content, naming the first differing offset.
func AssertSameFile(tb testing.TB, want, got string) {
	tb.Helper()
	if err := compareFiles(want, got); err != nil {
		tb.Error(err)
	}
}

// AssertSameTree fails the test unless every file of spec has identical
// content under both roots.
func AssertSameTree(tb testing.TB, spec []FileSpec, wantRoot, gotRoot string) {
	tb.Helper()
	for _, f := range spec {
		p := filepath.FromSlash(f.Path)
		if err := compareFiles(filepath.Join(wantRoot, p), filepath.Join(gotRoot, p)); err != nil {
			tb.Error(err)
		}
	}
}

func compareFiles(want, got string) error {
	a, err := os.Open(want)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	defer a.Close()
	b, err := os.Open(got)
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	defer b.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		na, errA := io.ReadFull(a, ba)
		nb, errB := io.ReadFull(b, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			n := min(na, nb)
			i := 0
			for i < n && ba[i] == bb[i] {
				i++
			}
			return fmt.Errorf("%s and %s differ at byte %d", want, got, off+int64(i))
		}
		off += int64(na)
		endA := errA == io.EOF || errA == io.ErrUnexpectedEOF
		endB := errB == io.EOF || errB == io.ErrUnexpectedEOF
		switch {
		case endA && endB:
			return nil
		case errA != nil && !endA:
			return fmt.Errorf("compare %s: %w", want, errA)
		case errB != nil && !endB:
			return fmt.Errorf("compare %s: %w", got, errB)
		}
	}
}
