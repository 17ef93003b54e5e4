package httpserve

import (
	"crypto/sha1"
	"encoding/hex"
	"path"
	"slices"
	"strings"

	"github.com/torfs/torfs/metainfo"
)

// tree indexes one torrent's files by the path a mount shows them at
// (a multi-file torrent's without its name), so that a lookup costs a
// map access, not a scan of the file list.
type tree struct {
	files map[string]int      // path → index in Info.Files
	dirs  map[string][]string // directory ("" for the top) → sorted names in it
	paths []string            // the files' paths in torrent order
}

// tree returns t's index, building it on first use. It forgets the
// indexes of torrents no longer in the Library when it builds one.
func (h *Handler) tree(t Torrent) *tree {
	h.mu.Lock()
	defer h.mu.Unlock()
	if tr, ok := h.trees[t.InfoHash()]; ok {
		return tr
	}
	if h.trees == nil {
		h.trees = map[metainfo.Hash]*tree{}
	} else {
		open := map[metainfo.Hash]bool{}
		for _, o := range h.Library.Torrents() {
			open[o.InfoHash()] = true
		}
		for k := range h.trees {
			if !open[k] {
				delete(h.trees, k)
			}
		}
	}
	tr := buildTree(t.Info())
	h.trees[t.InfoHash()] = tr
	return tr
}

func buildTree(info *metainfo.Info) *tree {
	tr := &tree{files: map[string]int{}, dirs: map[string][]string{"": nil}}
	for i, f := range info.Files {
		if f.Pad || f.Symlink != nil || len(f.Path) == 0 {
			continue // no content of its own
		}
		p := strings.Join(f.Path, "/")
		if _, dup := tr.files[p]; dup {
			continue
		}
		tr.files[p] = i
		tr.paths = append(tr.paths, p)
		// Add the file to its directory, and each directory new to
		// the tree to its parent, up to one already there.
		for child := p; child != ""; {
			d := path.Dir(child)
			if d == "." {
				d = ""
			}
			_, existed := tr.dirs[d]
			tr.dirs[d] = append(tr.dirs[d], path.Base(child))
			if existed {
				break
			}
			child = d
		}
	}
	for _, names := range tr.dirs {
		slices.Sort(names)
	}
	return tr
}

// isDir reports whether p ("" for the top) is a directory of the tree.
func (tr *tree) isDir(p string) bool {
	_, ok := tr.dirs[p]
	return ok
}

// etag is the strong ETag of the file at p of the torrent h: a
// torrent's content never changes for its info-hash.
func etag(h metainfo.Hash, p string) string {
	sum := sha1.Sum(append(h[:], p...))
	return `"` + hex.EncodeToString(sum[:]) + `"`
}
