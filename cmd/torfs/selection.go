package main

import (
	"flag"
	"path"
	"strings"

	"github.com/torfs/torfs/metainfo"
)

// selection is get's --only and --exclude: which of a torrent's files
// to download.
type selection struct {
	only, exclude stringsFlag
}

func (s *selection) register(fs *flag.FlagSet) {
	fs.Var(&s.only, "only", "download only files matching GLOB")
	fs.Var(&s.exclude, "exclude", "do not download files matching GLOB")
}

// active reports whether the user selected files at all.
func (s *selection) active() bool { return len(s.only)+len(s.exclude) > 0 }

// check rejects malformed patterns before anything starts.
func (s *selection) check() error {
	for _, p := range append(append([]string{}, s.only...), s.exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return usagef("bad pattern %q: %v", p, err)
		}
	}
	return nil
}

// selectedFile is one file a selection keeps.
type selectedFile struct {
	path   string // inside the torrent, "/"-separated
	length int64
}

// pieces returns the pieces holding the selected files of info (the
// pieces a selected file shares with an unselected one included), and
// the files selected. Selecting nothing is an error.
func (s *selection) pieces(info *metainfo.Info) ([]bool, []selectedFile, error) {
	wanted := make([]bool, info.NumPieces())
	var files []selectedFile
	for i := range info.Files {
		f := &info.Files[i]
		if f.Pad || f.Symlink != nil {
			continue
		}
		p := torrentPath(info, f)
		if !s.keeps(p) {
			continue
		}
		files = append(files, selectedFile{path: p, length: f.Length})
		if f.Length == 0 {
			continue
		}
		first, last := info.PieceRange(f.Offset, f.Length)
		for k := first; k <= last; k++ {
			wanted[k] = true
		}
	}
	if len(files) == 0 {
		return nil, nil, usagef("--only and --exclude leave no file of %s to download (patterns match paths inside the torrent such as %q, or base names)",
			info.Name, torrentPath(info, &info.Files[0]))
	}
	return wanted, files, nil
}

// keeps reports whether the file at p (inside the torrent) is selected:
// it matches an --only pattern (when there is one) and no --exclude
// pattern.
func (s *selection) keeps(p string) bool {
	if len(s.only) > 0 && !matchesAny(s.only, p) {
		return false
	}
	return !matchesAny(s.exclude, p)
}

// matchesAny reports whether a pattern matches the path p or its base
// name.
func matchesAny(patterns []string, p string) bool {
	base := path.Base(p)
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
		if ok, _ := path.Match(pat, base); ok {
			return true
		}
	}
	return false
}

// torrentPath is f's path inside the torrent: below the root directory
// of a multi-file torrent, the name of a single-file one.
func torrentPath(info *metainfo.Info, f *metainfo.File) string {
	if !info.MultiFile || len(f.Path) == 0 {
		return info.Name
	}
	return strings.Join(f.Path, "/")
}
