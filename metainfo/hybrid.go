package metainfo

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zeebo/bencode"
)

// checkHybrid makes sure a hybrid torrent's v2 'file tree' lists the same
// files, in the same order and with the same sizes, as its v1 'files'
// (pad files aside). A hybrid whose two halves disagree would make v1 and
// v2 peers download different content under one torrent (BEP 52).
func (d *decoder) checkHybrid(raw bencode.RawMessage, info *Info) error {
	tree, ok := d.asDict(raw)
	if !ok {
		return errors.New("info: hybrid torrent without a valid 'file tree'")
	}
	var leaves []File
	if err := d.walkTree(tree, nil, &leaves); err != nil {
		return fmt.Errorf("info.file tree: %w", err)
	}
	i := 0
	for _, f := range info.Files {
		if f.Pad {
			continue
		}
		if i >= len(leaves) {
			return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q, missing from the v2 file tree", strings.Join(f.Path, "/"))
		}
		l := leaves[i]
		if !slices.Equal(l.Path, f.Path) || l.Length != f.Length {
			return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q (%d bytes) where the v2 file tree has %q (%d bytes)",
				strings.Join(f.Path, "/"), f.Length, strings.Join(l.Path, "/"), l.Length)
		}
		i++
	}
	if i != len(leaves) {
		return fmt.Errorf("info: v1 and v2 file lists disagree: the v2 file tree has %d files, v1 has %d", len(leaves), i)
	}
	return nil
}

// walkTree appends the files of a v2 file tree in key order. A file is a
// dictionary with the single key "" holding its length; anything else is
// a directory.
func (d *decoder) walkTree(dir map[string]bencode.RawMessage, prefix []string, out *[]File) error {
	keys := make([]string, 0, len(dir))
	for k := range dir {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Shortened like v1 components, so long names compare equal.
		path := append(slices.Clip(prefix), fitComponent(k))
		node, ok := d.asDict(dir[k])
		if !ok || len(node) == 0 {
			return fmt.Errorf("%q is neither a file nor a directory", strings.Join(path, "/"))
		}
		if leaf, isFile := node[""]; isFile {
			if len(node) != 1 {
				return fmt.Errorf("%q mixes a file entry with other keys", strings.Join(path, "/"))
			}
			m, ok := d.asDict(leaf)
			if !ok {
				return fmt.Errorf("%q: file entry is not a dictionary", strings.Join(path, "/"))
			}
			var n int64
			if attr, _ := d.asString(m["attr"]); !strings.Contains(attr, "l") {
				if n, ok = d.asInt(m["length"]); !ok || n < 0 {
					return fmt.Errorf("%q: missing or invalid 'length'", strings.Join(path, "/"))
				}
			}
			*out = append(*out, File{Path: path, Length: n})
			continue
		}
		if err := d.walkTree(node, path, out); err != nil {
			return err
		}
	}
	return nil
}
