package metainfo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// srcFile is one regular file that goes into a torrent being created.
type srcFile struct {
	abs  string   // where to read it
	rel  []string // path components below the root
	key  string   // rel joined by "/", the sort key
	size int64
	exec bool // executable by its owner: BEP 47 attribute "x" in v2 torrents
	pad  bool // not a file: size zero bytes aligning the next file (BEP 47)
}

// collectFiles lists the files under root in torrent order. It follows
// symbolic links (the torrent holds what a reader of the tree sees, as
// with mktorrent), fails on a dangling link or a directory loop, includes
// hidden files, and skips anything that is not a regular file or a
// directory (FIFOs, sockets, devices). single reports that root itself is
// a file.
func collectFiles(root string) (files []srcFile, single bool, err error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, false, fmt.Errorf("create torrent: %w", err)
	}
	if fi.Mode().IsRegular() {
		return []srcFile{{abs: root, rel: []string{filepath.Base(root)}, size: fi.Size(), exec: fi.Mode()&0o100 != 0}}, true, nil
	}
	if !fi.IsDir() {
		return nil, false, fmt.Errorf("create torrent: %s is neither a regular file nor a directory", root)
	}
	if err := walkDir(root, nil, []fs.FileInfo{fi}, &files); err != nil {
		return nil, false, fmt.Errorf("create torrent: %w", err)
	}
	// mktorrent's order: the bytes of the whole path, so "sub.txt" comes
	// before "sub/x" ('.' < '/').
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	return files, false, nil
}

// walkDir appends the files below dir. stack holds the directories being
// walked, to detect a symbolic link that leads back into one of them.
func walkDir(dir string, rel []string, stack []fs.FileInfo, out *[]srcFile) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: %w (a dangling symbolic link?)", p, err)
		}
		r := append(rel[:len(rel):len(rel)], e.Name())
		switch {
		case fi.Mode().IsRegular():
			*out = append(*out, srcFile{abs: p, rel: r, key: strings.Join(r, "/"), size: fi.Size(), exec: fi.Mode()&0o100 != 0})
		case fi.IsDir():
			for _, s := range stack {
				if os.SameFile(s, fi) {
					return fmt.Errorf("%s: symbolic link loop (leads back to a parent directory)", p)
				}
			}
			if err := walkDir(p, r, append(stack, fi), out); err != nil {
				return err
			}
		}
	}
	return nil
}
