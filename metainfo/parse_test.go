package metainfo

import (
	"bytes"
	"crypto/sha1"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/bencode"
)

type dict = map[string]any

// torrentBytes encodes a torrent whose info dictionary is info.
func torrentBytes(t testing.TB, top dict, info dict) []byte {
	t.Helper()
	m := dict{}
	for k, v := range top {
		m[k] = v
	}
	if info != nil {
		m["info"] = info
	}
	b, err := bencode.EncodeBytes(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pieces(n int) string { return strings.Repeat("a", n*HashSize) }

func multiInfo(files ...dict) dict {
	list := make([]any, len(files))
	var total int64
	for i, f := range files {
		list[i] = f
		if n, ok := f["length"].(int); ok {
			total += int64(n)
		}
	}
	return dict{"name": "root", "piece length": 16, "pieces": pieces(int((total + 15) / 16)), "files": list}
}

func file(length int, path ...string) dict {
	p := make([]any, len(path))
	for i, c := range path {
		p[i] = c
	}
	return dict{"length": length, "path": p}
}

func TestParseSingleFile(t *testing.T) {
	info := dict{"name": "a.iso", "piece length": 16, "pieces": pieces(3), "length": 40, "private": 1}
	data := torrentBytes(t, dict{
		"announce":      "http://a/announce",
		"announce-list": []any{[]any{"http://a/announce", "http://b/announce"}, []any{}, []any{" udp://c:80 ", 7}},
		"url-list":      "http://seed/",
		"comment":       "hello",
		"created by":    "test",
		"creation date": 1700000000,
	}, info)
	mi, err := Parse(append(data, "trailing garbage"...))
	if err != nil {
		t.Fatal(err)
	}
	infoBytes, _ := bencode.EncodeBytes(info)
	if !bytes.Equal(mi.InfoBytes, infoBytes) || mi.InfoHash != Hash(sha1.Sum(infoBytes)) {
		t.Errorf("info bytes or hash wrong")
	}
	if mi.Info.Name != "a.iso" || mi.Info.MultiFile || mi.Info.Length != 40 || !mi.Info.Private || mi.Info.NumPieces() != 3 {
		t.Errorf("info = %+v", mi.Info)
	}
	if len(mi.Info.Files) != 1 || !slices.Equal(mi.Info.Files[0].Path, []string{"a.iso"}) {
		t.Errorf("files = %+v", mi.Info.Files)
	}
	tiers := mi.Trackers()
	if len(tiers) != 2 || !slices.Equal(tiers[0], []string{"http://a/announce", "http://b/announce"}) || !slices.Equal(tiers[1], []string{"udp://c:80"}) {
		t.Errorf("trackers = %q", tiers)
	}
	if !slices.Equal(mi.URLList, []string{"http://seed/"}) || mi.Comment != "hello" || mi.CreatedBy != "test" ||
		!mi.CreationDate.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("metadata = %+v", mi)
	}
}

func TestParseMultiFile(t *testing.T) {
	info := multiInfo(
		file(10, "a", "b.txt"),
		dict{"length": 6, "path": []any{"_____padding_file_0"}},
		dict{"length": 0, "path": []any{"x"}, "attr": "x"},
		dict{"length": 16, "path": []any{"lat1"}, "path.utf-8": []any{"ünï"}, "attr": "h"},
		dict{"length": 99, "attr": "l", "path": []any{"link"}, "symlink path": []any{"a", "b.txt"}},
		dict{"length": 4, "attr": "p"},
	)
	info["name.utf-8"] = "Root ü"
	info["pieces"] = pieces(3) // 10+6+0+16+0(symlink)+4 = 36 bytes
	mi, err := Parse(torrentBytes(t, nil, info))
	if err != nil {
		t.Fatal(err)
	}
	in := mi.Info
	if in.Name != "Root ü" || !in.MultiFile || in.Length != 36 {
		t.Fatalf("info = %+v", in)
	}
	f := in.Files
	wantOff := []int64{0, 10, 16, 16, 32, 32}
	for i := range f {
		if f[i].Offset != wantOff[i] {
			t.Errorf("file %d offset %d, want %d", i, f[i].Offset, wantOff[i])
		}
	}
	if f[0].Pad || !f[1].Pad || !f[2].Executable || !f[3].Hidden || !slices.Equal(f[3].Path, []string{"ünï"}) ||
		!slices.Equal(f[4].Symlink, []string{"a", "b.txt"}) || f[4].Length != 0 || !f[5].Pad {
		t.Errorf("files = %+v", f)
	}
}

func TestParseErrors(t *testing.T) {
	ok := dict{"name": "n", "piece length": 16, "pieces": pieces(1), "length": 10}
	with := func(k string, v any) dict {
		d := dict{}
		for k, v := range ok {
			d[k] = v
		}
		if v == nil {
			delete(d, k)
		} else {
			d[k] = v
		}
		return d
	}
	tests := []struct {
		name string
		data []byte
		want string // in the error message
	}{
		{"empty", nil, "not a torrent file"},
		{"list", []byte("le"), "not a torrent file"},
		{"truncated", []byte("d4:infod4:name"), "truncated"},
		{"claimed string", []byte("d4:info2147483647:abc"), "claims 2147483647 bytes"},
		{"deep", []byte("d1:a" + strings.Repeat("l", 200) + strings.Repeat("e", 201)), "nested deeper"},
		{"bad int", []byte("d1:ai1x2ee"), "malformed integer"},
		{"no info", torrentBytes(t, dict{"announce": "x"}, nil), "'info'"},
		{"no name", torrentBytes(t, nil, with("name", nil)), "'name'"},
		{"dotdot name", torrentBytes(t, nil, with("name", "..")), "info.name"},
		{"zero piece length", torrentBytes(t, nil, with("piece length", 0)), "'piece length' is 0"},
		{"huge piece length", torrentBytes(t, nil, with("piece length", 1<<40)), "largest supported"},
		{"pieces not multiple", torrentBytes(t, nil, with("pieces", "abc")), "not a multiple of 20"},
		{"pieces mismatch", torrentBytes(t, nil, with("pieces", pieces(2))), "'pieces' holds 2 hashes"},
		{"absurd length", torrentBytes(t, nil, with("length", int64(1)<<60)), "larger than the supported"},
		{"negative length", torrentBytes(t, nil, with("length", -1)), "negative"},
		{"no length", torrentBytes(t, nil, with("length", nil)), "neither 'files' nor 'length'"},
		{"zero length", torrentBytes(t, nil, with("length", 0)), "no data"},
		{"v2 only, empty tree", torrentBytes(t, nil, dict{"name": "n", "piece length": 16384, "meta version": 2, "file tree": dict{}}), "'file tree' is empty"},
		{"v2 only, no tree", torrentBytes(t, nil, dict{"name": "n", "piece length": 16384, "meta version": 2}), "without a valid 'file tree'"},
		{"files not list", torrentBytes(t, nil, with("files", "x")), "'files' is not a list"},
		{"dot component", torrentBytes(t, nil, multiInfo(file(3, "a", "."))), "info.files[0]"},
		{"empty component", torrentBytes(t, nil, multiInfo(file(3, "a", ""))), "empty path component"},
		{"separator", torrentBytes(t, nil, multiInfo(file(3, "a/b"))), "path separator"},
		{"backslash", torrentBytes(t, nil, multiInfo(file(3, `a\b`))), "path separator"},
		{"nul", torrentBytes(t, nil, multiInfo(file(3, "a\x00"))), "NUL"},
		{"empty path", torrentBytes(t, nil, multiInfo(file(3))), "empty path"},
		{"duplicate", torrentBytes(t, nil, multiInfo(file(3, "a"), file(4, "a"))), "already used"},
		{"file and dir", torrentBytes(t, nil, multiInfo(file(3, "a"), file(4, "a", "b"))), "already used"},
		{"dir and file", torrentBytes(t, nil, multiInfo(file(3, "a", "b"), file(4, "a"))), "also a directory"},
		{"symlink escape", torrentBytes(t, nil, multiInfo(file(3, "a"),
			dict{"attr": "l", "path": []any{"l"}, "symlink path": []any{"..", "etc"}})), "symlink path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mi, err := Parse(tt.data)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", mi.Info)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestLongNameShortened(t *testing.T) {
	long := strings.Repeat("é", 200) + ".mkv" // 404 bytes
	mi, err := Parse(torrentBytes(t, nil, dict{"name": long, "piece length": 16, "pieces": pieces(1), "length": 1}))
	if err != nil {
		t.Fatal(err)
	}
	n := mi.Info.Name
	if len(n) > maxComponent || !strings.HasSuffix(n, ".mkv") || !strings.HasPrefix(long, strings.TrimSuffix(n, ".mkv")) {
		t.Errorf("shortened name %q (%d bytes)", n, len(n))
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	info := dict{"name": "n", "piece length": 16, "pieces": pieces(1), "length": 10, "zz unknown": "kept"}
	data := torrentBytes(t, dict{
		"announce": "http://a/", "url-list": []any{"http://w1/", "http://w2/"},
		"nodes": []any{[]any{"1.2.3.4", 6881}}, "comment": "c", "creation date": 5,
	}, info)
	mi, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, data) {
		t.Errorf("Encode changed the file:\n got %q\nwant %q", out, data)
	}
	if _, err := (&MetaInfo{}).Encode(); err == nil {
		t.Error("Encode without info bytes succeeded")
	}
}

// bigTorrent is a 10,000-file torrent, the size of a large dataset.
func bigTorrent(b testing.TB) []byte {
	files := make([]dict, 10000)
	for i := range files {
		files[i] = file(1000+i, "dir"+strconv.Itoa(i%100), "file"+strconv.Itoa(i)+".dat")
	}
	info := multiInfo(files...)
	info["piece length"] = 1 << 20
	var total int64
	for i := range files {
		total += int64(1000 + i)
	}
	info["pieces"] = pieces(int((total + 1<<20 - 1) >> 20))
	return torrentBytes(b, dict{"announce": "http://t/"}, info)
}

func BenchmarkParse10kFiles(b *testing.B) {
	data := bigTorrent(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseDoesNotTrustSizes feeds inputs that claim huge sizes and checks
// that parsing them allocates about as much as the input, not as much as
// the claims.
func TestParseDoesNotTrustSizes(t *testing.T) {
	manyPieces, err := os.ReadFile("testdata/libtorrent/many_pieces.torrent")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{
		"claimed string":    []byte("d4:info2147483647:abcdef"),
		"claimed key":       []byte("d999999999:x"),
		"claimed length":    []byte("d4:infod6:lengthi999999999999999e4:name1:a12:piece lengthi1e6:pieces0:ee"),
		"claimed pieces":    manyPieces,
		"claimed file list": []byte("d4:infod5:filesl" + strings.Repeat("d6:lengthi1099511627776e4:pathl1:aee", 1) + "e4:name1:a12:piece lengthi16384e6:pieces0:ee"),
	}
	for name, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 10 {
			if _, err := Parse(in); err == nil {
				t.Fatalf("%s: parsed", name)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 1<<20 {
			t.Errorf("%s: %d-byte input allocated %d bytes per parse", name, len(in), per)
		}
	}
}
