package metainfo

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// v2File hashes n bytes of a pattern for pieces of pl bytes and returns
// the file tree leaf, its root and its layer.
func v2File(t *testing.T, n int, pl int64) (dict, Hash256, []byte) {
	t.Helper()
	h := NewFileHasher(pl)
	h.Write(bytes.Repeat([]byte{byte(n)}, n))
	root, layer, ok := h.Sum()
	if !ok {
		return dict{"": dict{"length": 0}}, root, nil
	}
	return dict{"": dict{"length": n, "pieces root": string(root[:])}}, root, layer
}

func TestParseV2Only(t *testing.T) {
	const pl = 32 << 10
	a, rootA, layerA := v2File(t, 100000, pl) // 4 pieces
	b, rootB, _ := v2File(t, 5000, pl)
	e, _, _ := v2File(t, 0, pl)
	info := dict{"name": "root", "piece length": pl, "meta version": 2, "private": 1,
		"file tree": dict{"a": a, "d": dict{"b": b, "e": e}}}
	layers := dict{string(rootA[:]): string(layerA)}
	mi, err := Parse(torrentBytes(t, dict{"piece layers": layers}, info))
	if err != nil {
		t.Fatal(err)
	}
	in := &mi.Info
	if mi.Version() != V2 || mi.HasV1() || !mi.HasV2() || !in.MultiFile || !in.Private {
		t.Errorf("version %v, multi-file %v, private %v", mi.Version(), in.MultiFile, in.Private)
	}
	want := []File{
		{Path: []string{"a"}, Length: 100000, PiecesRoot: rootA},
		{Path: []string{".pad", "31072"}, Length: 31072, Offset: 100000, Pad: true},
		{Path: []string{"d", "b"}, Length: 5000, Offset: 131072, PiecesRoot: rootB},
		{Path: []string{".pad", "27768"}, Length: 27768, Offset: 136072, Pad: true},
		{Path: []string{"d", "e"}, Offset: 163840},
	}
	if len(in.Files) != len(want) {
		t.Fatalf("files %+v", in.Files)
	}
	for i, f := range in.Files {
		if f.Offset != want[i].Offset || f.Length != want[i].Length || f.Pad != want[i].Pad ||
			strings.Join(f.Path, "/") != strings.Join(want[i].Path, "/") || f.PiecesRoot != want[i].PiecesRoot {
			t.Errorf("file %d: %+v, want %+v", i, f, want[i])
		}
	}
	if in.Length != 163840 || in.NumPieces() != 5 || in.PieceSize(4) != 32768 {
		t.Errorf("length %d, %d pieces, last %d", in.Length, in.NumPieces(), in.PieceSize(4))
	}
	if !bytes.Equal(mi.PieceLayers[rootA], layerA) || len(mi.PieceLayers) != 1 {
		t.Errorf("piece layers %d", len(mi.PieceLayers))
	}
	if mi.InfoHash != mi.InfoHashV2.Truncated() {
		t.Errorf("info-hash %s, v2 %s", mi.InfoHash, mi.InfoHashV2)
	}
	// Written and read again: the same hashes and layers.
	out, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil || again.InfoHashV2 != mi.InfoHashV2 || !bytes.Equal(again.PieceLayers[rootA], layerA) {
		t.Fatalf("re-parsed: %v", err)
	}

	// A single file named like the torrent is a single-file torrent.
	single := dict{"name": "a", "piece length": pl, "meta version": 2, "file tree": dict{"a": a}}
	if mi, err := Parse(torrentBytes(t, nil, single)); err != nil || mi.Info.MultiFile || len(mi.Info.Files) != 1 || mi.PieceLayers != nil {
		t.Errorf("single file: %v, %+v", err, mi)
	}

	_, rootC, layerC := v2File(t, 70000, pl)
	for _, tc := range []struct {
		name   string
		layers any
		want   string
	}{
		{"not a dict", "x", "'piece layers' is not a dictionary"},
		{"not a string", dict{string(rootA[:]): 7}, "is not a string"},
		{"short key", dict{"abc": string(layerA)}, "a key of 3 bytes"},
		{"unknown root", dict{string(rootC[:]): string(layerC)}, "is not the pieces root of any file"},
		{"small file", dict{string(rootB[:]): string(rootB[:])}, "fits in one piece"},
		{"wrong size", dict{string(rootA[:]): string(layerA[:96])}, "is 96 bytes; a file of 100000 bytes in pieces of 32768 needs 128"},
		{"wrong hash", dict{string(rootA[:]): strings.Repeat("x", 128)}, "not to the file's pieces root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(torrentBytes(t, dict{"piece layers": tc.layers}, info))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseV2Errors(t *testing.T) {
	leafA := "d0:d6:lengthi1e11:pieces root32:" + strings.Repeat("r", 32) + "ee"
	raw := func(tree string, pl int) []byte {
		return []byte("d4:infod9:file tree" + tree + "12:meta versioni2e4:name1:n12:piece lengthi" + strconv.Itoa(pl) + "eee")
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"ok", raw("d1:a"+leafA+"1:b"+leafA+"e", 16384), ""},
		{"unsorted", raw("d1:b"+leafA+"1:a"+leafA+"e", 16384), "keys must be sorted"},
		{"leading zero", raw("d1:ad0:d6:lengthi01e11:pieces root32:"+strings.Repeat("r", 32)+"eee", 16384), "leading zero"},
		{"not a power of two", raw("d1:a"+leafA+"e", 32767), "must be a power of two"},
		{"too small pieces", raw("d1:a"+leafA+"e", 8192), "must be a power of two"},
		{"empty name", raw("d0:"+leafA+"e", 16384), "empty path component"},
		{"no data", raw("d1:ad0:d6:lengthi0eeee", 16384), "no data"},
		{"huge file", raw("d1:ad0:d6:lengthi17592186028032e11:pieces root32:"+strings.Repeat("r", 32)+"eee", 16384), "a v2 file may hold"},
		{"symlink without target", raw("d1:ad0:d4:attr1:lee1:b"+leafA+"e", 16384), "symlink without"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
