package metainfo

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/zeebo/bencode"
)

// errStop ends a walk of the file tree early.
var errStop = errors.New("stop")

// checkHybrid makes sure a hybrid torrent's v2 'file tree' lists the same
// files, in the same order and with the same sizes, as its v1 'files'
// (pad files aside). A hybrid whose two halves disagree would make v1 and
// v2 peers download different content under one torrent (BEP 52).
//
// The tree is decoded once and walked in memory: decoding it level by
// level would copy everything under each directory again, and building
// each file's path anew at every level would cost the depth squared, so
// that a deep tree cost a hundred times its size.
func (d *decoder) checkHybrid(raw bencode.RawMessage, info *Info) error {
	var tree map[string]any
	if len(raw) == 0 || raw[0] != 'd' || d.decode(raw, &tree) != nil {
		return errors.New("info: hybrid torrent without a valid 'file tree'")
	}
	// Paths are built on one stack that never grows: a tree's depth is
	// under maxDepth, since bencbound checked its nesting.
	stack := make([]string, 0, maxDepth)
	leaves := 0
	if err := walkTree(tree, stack, func([]string, int64) error { leaves++; return nil }); err != nil {
		return fmt.Errorf("info.file tree: %w", err)
	}
	v1 := slices.DeleteFunc(slices.Clone(info.Files), func(f File) bool { return f.Pad })
	i := 0
	err := walkTree(tree, stack, func(path []string, n int64) error {
		if i >= len(v1) {
			return errStop
		}
		if f := v1[i]; !slices.Equal(path, f.Path) || n != f.Length {
			return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q (%d bytes) where the v2 file tree has %q (%d bytes)",
				strings.Join(f.Path, "/"), f.Length, strings.Join(path, "/"), n)
		}
		i++
		return nil
	})
	switch {
	case err != nil && err != errStop:
		return err
	case i < len(v1):
		return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q, missing from the v2 file tree", strings.Join(v1[i].Path, "/"))
	case leaves != len(v1):
		return fmt.Errorf("info: v1 and v2 file lists disagree: the v2 file tree has %d files, v1 has %d", leaves, len(v1))
	}
	return nil
}

// walkTree calls leaf for each file of a v2 file tree, in key order, with
// its path (valid only during the call) and length. A file is a
// dictionary with the single key "" holding its length; anything else is
// a directory. An error from leaf ends the walk.
func walkTree(dir map[string]any, prefix []string, leaf func(path []string, length int64) error) error {
	keys := make([]string, 0, len(dir))
	for k := range dir {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// Shortened like v1 components, so long names compare equal.
		path := append(prefix, fitComponent(k))
		node, ok := dir[k].(map[string]any)
		if !ok || len(node) == 0 {
			return fmt.Errorf("%q is neither a file nor a directory", strings.Join(path, "/"))
		}
		if entry, isFile := node[""]; isFile {
			if len(node) != 1 {
				return fmt.Errorf("%q mixes a file entry with other keys", strings.Join(path, "/"))
			}
			m, ok := entry.(map[string]any)
			if !ok {
				return fmt.Errorf("%q: file entry is not a dictionary", strings.Join(path, "/"))
			}
			var n int64
			if attr, _ := m["attr"].(string); !strings.Contains(attr, "l") {
				if n, ok = m["length"].(int64); !ok || n < 0 {
					return fmt.Errorf("%q: missing or invalid 'length'", strings.Join(path, "/"))
				}
			}
			if err := leaf(path, n); err != nil {
				return err
			}
			continue
		}
		if err := walkTree(node, path, leaf); err != nil {
			return err
		}
	}
	return nil
}
