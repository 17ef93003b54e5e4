package metainfo

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// expectation is one row of testdata/libtorrent/EXPECT.tsv.
type expectation struct {
	file, verdict, category, note string
}

func loadExpectations(t testing.TB) []expectation {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "libtorrent", "EXPECT.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var out []expectation
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			t.Fatalf("EXPECT.tsv: malformed line %q", l)
		}
		out = append(out, expectation{f[0], f[1], f[2], f[3]})
	}
	return out
}

var (
	infohashV1 = regexp.MustCompile(`infohash_v1=([0-9a-f]{40})`)
	infohashV2 = regexp.MustCompile(`infohash_v2=([0-9a-f]{64})`)
)

// checkHashes compares mi's info-hashes with those the note gives; an
// accepted file must have at least one.
func checkHashes(t *testing.T, mi *MetaInfo, note string) {
	t.Helper()
	m1, m2 := infohashV1.FindStringSubmatch(note), infohashV2.FindStringSubmatch(note)
	if m1 == nil && m2 == nil {
		t.Fatalf("EXPECT.tsv gives no info-hash for an accepted file")
	}
	if m1 != nil != mi.HasV1() || m2 != nil != mi.HasV2() {
		t.Errorf("version %v, but EXPECT.tsv gives v1 hash %v, v2 hash %v", mi.Version(), m1 != nil, m2 != nil)
	}
	if m1 != nil && mi.InfoHash.String() != m1[1] {
		t.Errorf("info-hash %s, want %s", mi.InfoHash, m1[1])
	}
	if m2 != nil && mi.InfoHashV2.String() != m2[1] {
		t.Errorf("v2 info-hash %s, want %s", mi.InfoHashV2, m2[1])
	}
	if m1 == nil && m2 != nil && mi.InfoHash.String() != m2[1][:40] {
		t.Errorf("a v2-only torrent's InfoHash %s is not its v2 info-hash truncated", mi.InfoHash)
	}
}

// TestConformance runs the libtorrent corpus: every file must behave as
// EXPECT.tsv says.
func TestConformance(t *testing.T) {
	exps := loadExpectations(t)
	if len(exps) != 108 {
		t.Fatalf("EXPECT.tsv lists %d files, want 108", len(exps))
	}
	for _, e := range exps {
		t.Run(e.file, func(t *testing.T) {
			// torfs parses v2 (BEP 52), so the v2-only files are held to
			// their verdicts like the others.
			mi, err := Load(filepath.Join("testdata", "libtorrent", e.file))
			switch e.verdict {
			case "accept":
				if err != nil {
					t.Fatalf("rejected an accept file: %v", err)
				}
				checkHashes(t, mi, e.note)
				checkSafe(t, mi)
			case "reject":
				if err == nil {
					t.Fatalf("accepted a reject file (%s)", e.category)
				}
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
			case "accept-or-reject":
				if err != nil {
					return
				}
				checkHashes(t, mi, e.note)
				checkSafe(t, mi)
			default:
				t.Fatalf("unknown verdict %q", e.verdict)
			}
		})
	}
}

// checkSafe asserts the invariants every accepted torrent holds: no path
// leaves the root, no two files share a path, offsets are consistent.
func checkSafe(t *testing.T, mi *MetaInfo) {
	t.Helper()
	info := &mi.Info
	seen := make(map[string]bool)
	var off int64
	for i, f := range info.Files {
		if f.Offset != off {
			t.Errorf("file %d offset %d, want %d", i, f.Offset, off)
		}
		off += f.Length
		if f.Pad {
			continue
		}
		for _, parts := range [][]string{f.Path, f.Symlink} {
			for _, c := range parts {
				if err := checkComponent(c); err != nil || len(c) > maxComponent {
					t.Errorf("file %d: unsafe component %q in %q", i, c, parts)
				}
			}
		}
		root := "/root"
		p := filepath.Join(append([]string{root}, f.Path...)...)
		if !strings.HasPrefix(p, root+"/") {
			t.Errorf("file %d: path %q resolves outside the root", i, f.Path)
		}
		if seen[p] {
			t.Errorf("file %d: duplicate path %q", i, p)
		}
		seen[p] = true
	}
	if off != info.Length {
		t.Errorf("files add up to %d bytes, Length is %d", off, info.Length)
	}
	if err := checkComponent(info.Name); err != nil {
		t.Errorf("unsafe name %q: %v", info.Name, err)
	}
	if got, want := int64(info.NumPieces()), (info.Length+info.PieceLength-1)/info.PieceLength; got != want {
		t.Errorf("%d pieces for %d bytes, want %d", got, info.Length, want)
	}
}

// TestConformanceDetails checks the values libtorrent's own tests assert
// where torfs's behaviour is meant to be the same.
func TestConformanceDetails(t *testing.T) {
	load := func(name string) *MetaInfo {
		t.Helper()
		mi, err := Load(filepath.Join("testdata", "libtorrent", name))
		if err != nil {
			t.Fatal(err)
		}
		return mi
	}
	paths := func(mi *MetaInfo) (out []string) {
		for _, f := range mi.Info.Files {
			if !f.Pad {
				out = append(out, strings.Join(f.Path, "/"))
			}
		}
		return out
	}

	if mi := load("base.torrent"); mi.Info.Name != "temp" || mi.Info.Length != 425 || mi.Info.PieceLength != 16384 || mi.Info.NumPieces() != 1 || mi.Info.MultiFile {
		t.Errorf("base.torrent: %+v", mi.Info)
	}
	if mi := load("creation_date.torrent"); mi.CreationDate.Unix() != 1234567 ||
		!slices.Equal(paths(mi), []string{"foo/bar.txt", "foo/var.txt"}) {
		t.Errorf("creation_date.torrent: date %v, files %q", mi.CreationDate, paths(mi))
	}
	if mi := load("no_creation_date.torrent"); !mi.CreationDate.IsZero() {
		t.Errorf("no_creation_date.torrent: date %v, want none", mi.CreationDate)
	}
	if mi := load("dht_nodes.torrent"); !slices.Equal(mi.Nodes, []string{"127.0.0.1:6881", "192.168.1.1:6881"}) {
		t.Errorf("dht_nodes.torrent: nodes %q", mi.Nodes)
	}
	if mi := load("duplicate_web_seeds.torrent"); !slices.Equal(mi.URLList, []string{"http://foobar.com/foo", "http://foobar.com/foobar", "http://foobar.com/bar"}) ||
		mi.Announce != "udp://test.com/announce" {
		t.Errorf("duplicate_web_seeds.torrent: url-list %q, announce %q", mi.URLList, mi.Announce)
	}
	for _, name := range []string{"empty_httpseed.torrent", "url_list.torrent", "url_list2.torrent", "url_list3.torrent"} {
		if mi := load(name); len(mi.URLList) != 0 || len(mi.HTTPSeeds) != 0 {
			t.Errorf("%s: url-list %q httpseeds %q, want none", name, mi.URLList, mi.HTTPSeeds)
		}
	}
	if mi := load("httpseed.torrent"); !slices.Equal(mi.HTTPSeeds, []string{"http://foobar.com/"}) {
		t.Errorf("httpseed.torrent: %q", mi.HTTPSeeds)
	}
	if mi := load("url_seed.torrent"); !slices.Equal(mi.URLList, []string{"http://test.com/file"}) {
		t.Errorf("url_seed.torrent: %q", mi.URLList)
	}
	if mi := load("whitespace_url.torrent"); fmt.Sprint(mi.Trackers()) != "[[udp://test.com/announce]]" {
		t.Errorf("whitespace_url.torrent: trackers %q", mi.Trackers())
	}
	if mi := load("invalid_name3.torrent"); mi.Info.Name != "foobar " {
		t.Errorf("invalid_name3.torrent: name %q", mi.Info.Name)
	}
	if mi := load("long_name.torrent"); len(mi.Info.Name) > maxComponent {
		t.Errorf("long_name.torrent: name of %d bytes kept", len(mi.Info.Name))
	}
	if mi := load("large.torrent"); mi.Info.Length != 5242880000 || mi.Info.NumPieces() != 5000 {
		t.Errorf("large.torrent: length %d, %d pieces", mi.Info.Length, mi.Info.NumPieces())
	}
	if mi := load("large_piece_size.torrent"); mi.Info.PieceLength != 536854528 {
		t.Errorf("large_piece_size.torrent: piece length %d", mi.Info.PieceLength)
	}
	if mi := load("single_multi_file.torrent"); !mi.Info.MultiFile || !slices.Equal(paths(mi), []string{"foo/bar"}) {
		t.Errorf("single_multi_file.torrent: multi %v, files %q", mi.Info.MultiFile, paths(mi))
	}
	for _, name := range []string{"pad_file.torrent", "pad_file_no_path.torrent"} {
		mi := load(name)
		if f := mi.Info.Files; len(f) != 2 || f[0].Pad || !f[1].Pad || f[1].Length != 2124 {
			t.Errorf("%s: files %+v", name, f)
		}
	}
	if mi := load("sample.torrent"); mi.Comment != "sample comment" || mi.Info.NumPieces() != 2 ||
		!slices.Equal(paths(mi), []string{"text_file2.txt", "text_file.txt"}) || !mi.Info.Files[1].Pad {
		t.Errorf("sample.torrent: comment %q, files %+v", mi.Comment, mi.Info.Files)
	}
	mi := load("symlink1.torrent")
	if f := mi.Info.Files; len(f) != 2 || !slices.Equal(f[1].Symlink, []string{"a", "b", "bar"}) || f[1].Length != 0 {
		t.Errorf("symlink1.torrent: %+v", f)
	}
	mi = load("symlink_zero_size.torrent")
	if f := mi.Info.Files; len(f) != 2 || !slices.Equal(f[1].Symlink, []string{"a", "b", "bar"}) {
		t.Errorf("symlink_zero_size.torrent: %+v", f)
	}
	mi = load("overlapping_symlinks.torrent")
	want := []string{"SDL2.framework/Versions/Current/Headers", "SDL2.framework/Versions/Current/Resources", "SDL2.framework/Versions/Current/SDL2"}
	for i, w := range want {
		// libtorrent's values include the torrent's name, the root.
		if got := mi.Info.Name + "/" + strings.Join(mi.Info.Files[i].Symlink, "/"); got != w {
			t.Errorf("overlapping_symlinks.torrent: symlink(%d) = %q, want %q", i, got, w)
		}
	}
	if mi := load("v2.torrent"); len(mi.Info.Files) != 1 || mi.Info.Files[0].Length != 65536 || mi.Info.Name != "test64K" ||
		mi.Info.Files[0].PiecesRoot.String() != "60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242" || mi.Version() != Hybrid {
		t.Errorf("v2.torrent: %v %+v", mi.Version(), mi.Info.Files)
	}
	for _, name := range []string{"v2_only.torrent", "v2_multipiece_file.torrent"} {
		mi := load(name)
		if f := mi.Info.Files; len(f) != 1 || f[0].Length != 1048576 || strings.Join(f[0].Path, "/") != "test1MB" ||
			f[0].PiecesRoot.String() != "515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008" {
			t.Errorf("%s: %+v", name, f)
		}
	}
	if mi := load("v2_only.torrent"); mi.Version() != V2 || mi.HasV1() {
		t.Errorf("v2_only.torrent: version %v", mi.Version())
	}
	mi = load("v2_multiple_files.torrent")
	if f := mi.Info.Files; len(f) != 5 || !f[2].Pad || !f[4].Pad || len(mi.PieceLayers) != 3 {
		t.Errorf("v2_multiple_files.torrent: %d files, %d piece layers", len(f), len(mi.PieceLayers))
	}
	if mi := load("v2_incomplete_piece_layer.torrent"); len(mi.PieceLayers) != 2 {
		t.Errorf("v2_incomplete_piece_layer.torrent: %d piece layers, want 2", len(mi.PieceLayers))
	}
	mi = load("v2_symlinks.torrent")
	for i, w := range want {
		if got := mi.Info.Name + "/" + strings.Join(mi.Info.Files[i].Symlink, "/"); got != w {
			t.Errorf("v2_symlinks.torrent: symlink(%d) = %q, want %q", i, got, w)
		}
	}
}
