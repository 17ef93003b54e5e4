package metainfo

import (
	"strconv"
	"strings"
	"testing"
)

// hybrid makes a multi-file info dictionary with pieces of 16 KiB a hybrid
// with the given v2 file tree.
func hybrid(tree dict, files ...dict) dict {
	info := multiInfo(files...)
	var total int
	for _, f := range files {
		total += f["length"].(int)
	}
	info["piece length"] = 16384
	info["pieces"] = pieces((total + 16383) / 16384)
	info["meta version"] = 2
	info["file tree"] = tree
	return info
}

// pad is a v1 pad file of n bytes.
func pad(n int) dict { return dict{"length": n, "attr": "p", "path": []any{".pad", strconv.Itoa(n)}} }

// withKey returns d with key set to v.
func withKey(d dict, key string, v any) dict {
	d[key] = v
	return d
}

func leaf(n int) dict { return dict{"": dict{"length": n, "pieces root": strings.Repeat("r", 32)}} }

func TestCheckHybrid(t *testing.T) {
	tree := dict{"a": leaf(3), "d": dict{"b": leaf(4), "c": leaf(5)}}
	ok := []dict{file(3, "a"), pad(16381), file(4, "d", "b"), pad(16380), file(5, "d", "c")}
	mi, err := Parse(torrentBytes(t, nil, hybrid(tree, ok...)))
	if err != nil {
		t.Fatalf("consistent hybrid: %v", err)
	}
	if mi.Version() != Hybrid || mi.Info.Files[2].PiecesRoot != Hash256([]byte(strings.Repeat("r", 32))) {
		t.Errorf("version %v, files %+v", mi.Version(), mi.Info.Files)
	}
	for _, tc := range []struct {
		name string
		info dict
		want string
	}{
		{"v1 has more", hybrid(tree, append(ok, file(6, "e"))...), `v1 has "e", missing from the v2 file tree`},
		{"v2 has more", hybrid(dict{"a": leaf(3), "d": dict{"b": leaf(4), "c": leaf(5)}, "e": leaf(1)}, ok...), "the v2 file tree has 4 files, v1 has 3"},
		{"length differs", hybrid(dict{"a": leaf(3), "d": dict{"b": leaf(9), "c": leaf(5)}}, ok...), `v1 has "d/b" (4 bytes) where the v2 file tree has "d/b" (9 bytes)`},
		{"order differs", hybrid(tree, file(4, "d", "b"), file(3, "a"), file(5, "d", "c")), `v1 has "d/b" (4 bytes) where the v2 file tree has "a" (3 bytes)`},
		{"not a directory", hybrid(dict{"a": leaf(3), "d": dict{"b": "x"}}, ok...), `"d/b" is neither a file nor a directory`},
		{"mixed entry", hybrid(dict{"a": dict{"": dict{"length": 3}, "x": leaf(1)}}, ok...), `"a" mixes a file entry`},
		{"bad length", hybrid(dict{"a": dict{"": dict{"length": -3}}}, ok...), `"a": missing or invalid 'length'`},
		{"not a tree", withKey(hybrid(nil, ok...), "file tree", "x"), "without a valid 'file tree'"},
		{"not aligned", hybrid(tree, file(3, "a"), pad(13), file(4, "d", "b"), pad(16380), file(5, "d", "c")), `v1 has "d/b" at byte 16, not at a piece boundary`},
		{"piece length", withKey(hybrid(tree, ok...), "piece length", 16384*3), "must be a power of two"},
		{"zero root", hybrid(dict{"a": leaf(3), "d": dict{"b": dict{"": dict{"length": 4, "pieces root": string(make([]byte, 32))}}, "c": leaf(5)}}, ok...), `"d/b": 'pieces root' is all zeros`},
		{"no root", hybrid(dict{"a": leaf(3), "d": dict{"b": dict{"": dict{"length": 4}}, "c": leaf(5)}}, ok...), `"d/b": missing 'pieces root'`},
		{"short root", hybrid(dict{"a": leaf(3), "d": dict{"b": dict{"": dict{"length": 4, "pieces root": "abc"}}, "c": leaf(5)}}, ok...), `"d/b": 'pieces root' is 3 bytes`},
		{"pad in tree", hybrid(dict{"a": leaf(3), "d": dict{"b": dict{"": dict{"length": 4, "attr": "p", "pieces root": strings.Repeat("r", 32)}}, "c": leaf(5)}}, ok...), "may not hold pad files"},
		{"unsafe name", hybrid(dict{"a": leaf(3), "d": dict{"..": leaf(4), "c": leaf(5)}}, ok...), `"d/..": path component ".." refers to a directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(torrentBytes(t, nil, tc.info))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
