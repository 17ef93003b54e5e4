package metainfo

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxComponent is the longest path component most Linux file systems
// accept (NAME_MAX); longer names are shortened as libtorrent does.
const maxComponent = 255

// shortComponent is what an over-long component is cut to, leaving room
// for a suffix a caller may add.
const shortComponent = 240

// checkComponent reports why s cannot be a path component below the
// torrent root, or nil if it can. This is the single path policy of the
// package: anything that could name the root itself, its parent, or
// another directory level is rejected, never rewritten.
func checkComponent(s string) error {
	switch {
	case s == "":
		return errors.New("empty path component")
	case s == "." || s == "..":
		return fmt.Errorf("path component %q refers to a directory, not a name", s)
	case strings.ContainsAny(s, "/\\"):
		return fmt.Errorf("path component %q contains a path separator", s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("path component %q contains a NUL byte", s)
	}
	return nil
}

// fitComponent shortens a component longer than maxComponent bytes to
// shortComponent bytes, keeping a short extension and never splitting a
// UTF-8 sequence, so that the kernel never gets ENAMETOOLONG.
func fitComponent(s string) string {
	if len(s) <= maxComponent {
		return s
	}
	ext := ""
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= 16 {
		ext = s[i:]
	}
	keep := shortComponent - len(ext)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + ext
}

// checkPath validates a list of components and returns it with
// over-long components shortened.
func checkPath(parts []string) ([]string, error) {
	if len(parts) == 0 {
		return nil, errors.New("empty path")
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		if err := checkComponent(p); err != nil {
			return nil, err
		}
		out[i] = fitComponent(p)
	}
	return out, nil
}

// checkUnique rejects two files with one path, and a path that is both a
// file and a directory (["a"] and ["a", "b"]). Paths are entered in a
// tree of numbered nodes, so the cost stays linear in the number of
// components however deep the paths are.
func checkUnique(files []File) error {
	type edge struct {
		parent int
		name   string
	}
	const root = 0
	nodes := make(map[edge]int)
	isFile := []bool{false} // by node number; node 0 is the root
	for i := range files {
		f := &files[i]
		if f.Pad {
			continue
		}
		at := root
		for j, c := range f.Path {
			last := j == len(f.Path)-1
			next, ok := nodes[edge{at, c}]
			switch {
			case ok && isFile[next]:
				return fmt.Errorf("info.files[%d]: path %q is already used by another file", i, strings.Join(f.Path, "/"))
			case ok && last:
				return fmt.Errorf("info.files[%d]: path %q is also a directory of another file", i, strings.Join(f.Path, "/"))
			case !ok:
				next = len(isFile)
				nodes[edge{at, c}] = next
				isFile = append(isFile, last)
			}
			at = next
		}
	}
	return nil
}
