package metainfo

import (
	"strings"
	"testing"
)

// hybrid makes a multi-file info dictionary a hybrid with the given v2
// file tree.
func hybrid(tree dict, files ...dict) dict {
	info := multiInfo(files...)
	info["meta version"] = 2
	info["file tree"] = tree
	return info
}

// withKey returns d with key set to v.
func withKey(d dict, key string, v any) dict {
	d[key] = v
	return d
}

func leaf(n int) dict { return dict{"": dict{"length": n, "pieces root": strings.Repeat("r", 32)}} }

func TestCheckHybrid(t *testing.T) {
	pad := dict{"length": 13, "attr": "p", "path": []any{".pad", "13"}}
	tree := dict{"a": leaf(3), "d": dict{"b": leaf(4), "c": leaf(5)}}
	ok := []dict{file(3, "a"), pad, file(4, "d", "b"), file(5, "d", "c")}
	if _, err := Parse(torrentBytes(t, nil, hybrid(tree, ok...))); err != nil {
		t.Fatalf("consistent hybrid: %v", err)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(torrentBytes(t, nil, tc.info))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
