package metainfo

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// maxPieces bounds the pieces of a v2 torrent, whose count comes from
// its lengths rather than from a string of hashes (libtorrent's piece
// index is a 32-bit integer).
const maxPieces = 1<<31 - 1

// maxV2FileLength bounds one file of a v2 torrent: libtorrent refuses a
// file of 2^30 - 1 blocks or more (its merkle tree would not fit its
// 32-bit node index).
const maxV2FileLength = (1<<30-1)*BlockSize - 1

// errStop ends a walk of the file tree early.
var errStop = errors.New("stop")

// treeFile is one file of a v2 file tree, as walkTree reports it.
type treeFile struct {
	length     int64
	root       Hash256
	executable bool
	hidden     bool
	symlink    []string // nil unless a symlink
}

// decodeTree checks and decodes a 'file tree'. It is decoded once and
// walked in memory: decoding it level by level would copy everything
// under each directory again, and building each file's path anew at
// every level would cost the depth squared, so that a deep tree cost a
// hundred times its size.
func (d *decoder) decodeTree(raw bencode.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || raw[0] != 'd' {
		return nil, errors.New("info: a v2 torrent ('meta version' 2) without a valid 'file tree' dictionary")
	}
	// libtorrent refuses a v2 file tree with unsorted keys or overlong
	// integers: the same files must have one encoding, one info-hash.
	if err := bencbound.Canonical(raw, maxDepth); err != nil {
		return nil, fmt.Errorf("info.file tree: %w", err)
	}
	var tree map[string]any
	if err := d.decode(raw, &tree); err != nil {
		return nil, fmt.Errorf("info.file tree: %w", err)
	}
	if len(tree) == 0 {
		return nil, errors.New("info: 'file tree' is empty: the torrent has no files")
	}
	return tree, nil
}

// treePath is the stack paths are built on while walking a tree: it never
// grows, since a tree's depth is under maxDepth (bencbound checked it).
func treePath() []string { return make([]string, 0, maxDepth) }

// walkTree calls leaf for each file of a v2 file tree, in key order, with
// its path (valid only during the call). A file is a dictionary with the
// single key "" holding its entry; anything else is a directory. An
// error from leaf ends the walk.
func walkTree(dir map[string]any, prefix []string, leaf func(path []string, f *treeFile) error) error {
	keys := make([]string, 0, len(dir))
	for k := range dir {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		path := append(prefix, k)
		if err := checkComponent(k); err != nil {
			return fmt.Errorf("%q: %w", strings.Join(path, "/"), err)
		}
		// Shortened like v1 components, so long names compare equal.
		path[len(path)-1] = fitComponent(k)
		node, ok := dir[k].(map[string]any)
		if !ok || len(node) == 0 {
			return fmt.Errorf("%q is neither a file nor a directory", strings.Join(path, "/"))
		}
		entry, isFile := node[""]
		if !isFile {
			if err := walkTree(node, path, leaf); err != nil {
				return err
			}
			continue
		}
		if len(node) != 1 {
			return fmt.Errorf("%q mixes a file entry with other keys", strings.Join(path, "/"))
		}
		m, ok := entry.(map[string]any)
		if !ok {
			return fmt.Errorf("%q: file entry is not a dictionary", strings.Join(path, "/"))
		}
		f, err := treeEntry(m)
		if err != nil {
			return fmt.Errorf("%q: %w", strings.Join(path, "/"), err)
		}
		if err := leaf(path, &f); err != nil {
			return err
		}
	}
	return nil
}

// treeEntry validates one file entry of a v2 file tree.
func treeEntry(m map[string]any) (treeFile, error) {
	attr, _ := m["attr"].(string)
	f := treeFile{executable: strings.Contains(attr, "x"), hidden: strings.Contains(attr, "h")}
	if strings.Contains(attr, "p") {
		return f, errors.New("a v2 file tree may not hold pad files (attr 'p')")
	}
	if strings.Contains(attr, "l") {
		// A symlink has no payload; libtorrent ignores any 'length'.
		l, ok := m["symlink path"].([]any)
		parts := make([]string, len(l))
		for i, e := range l {
			if parts[i], ok = e.(string); !ok {
				break
			}
		}
		if !ok {
			return f, errors.New("symlink without a valid 'symlink path' list of strings")
		}
		t, err := checkPath(parts)
		if err != nil {
			return f, fmt.Errorf("unsafe symlink path %q: %w", parts, err)
		}
		f.symlink = t
		return f, nil
	}
	n, ok := m["length"].(int64)
	if !ok || n < 0 {
		return f, errors.New("missing or invalid 'length'")
	}
	if n > maxV2FileLength {
		return f, fmt.Errorf("'length' is %d, larger than the %d bytes a v2 file may hold", n, int64(maxV2FileLength))
	}
	f.length = n
	if n == 0 {
		return f, nil
	}
	root, _ := m["pieces root"].(string)
	switch {
	case root == "":
		return f, errors.New("missing 'pieces root'")
	case len(root) != Hash256Size:
		return f, fmt.Errorf("'pieces root' is %d bytes, not %d", len(root), Hash256Size)
	case root == string(make([]byte, Hash256Size)):
		return f, errors.New("'pieces root' is all zeros")
	}
	copy(f.root[:], root)
	return f, nil
}

// checkPieceLengthV2 applies BEP 52's rule: a power of two, at least
// 16 KiB.
func checkPieceLengthV2(pl int64) error {
	if pl < BlockSize || pl&(pl-1) != 0 {
		return fmt.Errorf("info: 'piece length' is %d; a v2 torrent's must be a power of two of at least %d", pl, BlockSize)
	}
	return nil
}

// checkHybrid makes sure a hybrid torrent's v2 'file tree' lists the same
// files, in the same order and with the same sizes, as its v1 'files'
// (pad files aside), each starting at a piece boundary, and gives the v1
// files their pieces roots. A hybrid whose two halves disagree would make
// v1 and v2 peers download different content under one torrent (BEP 52).
func (d *decoder) checkHybrid(raw bencode.RawMessage, info *Info) error {
	tree, err := d.decodeTree(raw)
	if err != nil {
		return err
	}
	var v1 []int // the indexes of the v1 files that are not padding
	for i := range info.Files {
		if !info.Files[i].Pad {
			v1 = append(v1, i)
		}
	}
	leaves := 0
	if err := walkTree(tree, treePath(), func([]string, *treeFile) error { leaves++; return nil }); err != nil {
		return fmt.Errorf("info.file tree: %w", err)
	}
	i := 0
	err = walkTree(tree, treePath(), func(path []string, tf *treeFile) error {
		if i >= len(v1) {
			return errStop
		}
		f := &info.Files[v1[i]]
		if !slices.Equal(path, f.Path) || tf.length != f.Length {
			return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q (%d bytes) where the v2 file tree has %q (%d bytes)",
				strings.Join(f.Path, "/"), f.Length, strings.Join(path, "/"), tf.length)
		}
		if (tf.symlink != nil) != (f.Symlink != nil) {
			return fmt.Errorf("info: v1 and v2 file lists disagree: %q is a symlink in one and not in the other", strings.Join(path, "/"))
		}
		if f.Length > 0 && f.Offset%info.PieceLength != 0 {
			return fmt.Errorf("info: v1 and v2 pieces disagree: v1 has %q at byte %d, not at a piece boundary (v1 pad files must align every file)",
				strings.Join(f.Path, "/"), f.Offset)
		}
		f.PiecesRoot = tf.root
		i++
		return nil
	})
	switch {
	case err != nil && err != errStop:
		return err
	case i < len(v1):
		return fmt.Errorf("info: v1 and v2 file lists disagree: v1 has %q, missing from the v2 file tree", strings.Join(info.Files[v1[i]].Path, "/"))
	case leaves != len(v1):
		return fmt.Errorf("info: v1 and v2 file lists disagree: the v2 file tree has %d files, v1 has %d", leaves, len(v1))
	}
	info.V2 = true
	return nil
}

// parseV2Only fills info from the file tree of a torrent without v1
// pieces. A pad file follows each file that does not end at a piece
// boundary, the last one too, as libtorrent lays out a v2 torrent (and
// creates a hybrid's v1 files), so that the piece geometry is the same
// for every kind of torrent.
func (d *decoder) parseV2Only(raw bencode.RawMessage, info *Info) error {
	tree, err := d.decodeTree(raw)
	if err != nil {
		return err
	}
	pl := info.PieceLength
	var off int64
	err = walkTree(tree, treePath(), func(path []string, tf *treeFile) error {
		info.Files = append(info.Files, File{
			Path: slices.Clone(path), Length: tf.length, Offset: off,
			Executable: tf.executable, Hidden: tf.hidden, Symlink: tf.symlink, PiecesRoot: tf.root,
		})
		off += tf.length
		if n := (pl - off%pl) % pl; n > 0 {
			info.Files = append(info.Files, File{Path: []string{".pad", strconv.FormatInt(n, 10)}, Length: n, Offset: off, Pad: true})
			off += n
		}
		if off > MaxLength {
			return fmt.Errorf("total length is larger than the supported %d", int64(MaxLength))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("info.file tree: %w", err)
	}
	// A single file at the root named like the torrent is a single-file
	// torrent, as in v1, and has no pad file.
	first := &info.Files[0]
	info.MultiFile = !(len(first.Path) == 1 && first.Path[0] == info.Name && len(info.Files) <= 2 && (len(info.Files) == 1 || info.Files[1].Pad))
	if !info.MultiFile && len(info.Files) == 2 {
		info.Files = info.Files[:1]
		off = first.Length
	}
	info.Length = off
	info.V2 = true
	if n := (off + pl - 1) / pl; n > maxPieces {
		return fmt.Errorf("info: %d bytes in pieces of %d make %d pieces, more than the %d supported", off, pl, n, maxPieces)
	}
	return nil
}

// parsePieceLayers checks the 'piece layers' of a v2 torrent against its
// files and returns them by pieces root. Every layer must belong to a file
// larger than a piece, hold one hash per piece of it, and hash up to its
// pieces root; layers may be missing.
func (d *decoder) parsePieceLayers(raw bencode.RawMessage, info *Info) (map[Hash256][]byte, error) {
	if !present(raw) {
		return nil, nil
	}
	m, ok := d.asDict(raw)
	if !ok {
		return nil, errors.New("'piece layers' is not a dictionary")
	}
	if len(m) == 0 {
		return nil, nil
	}
	lengths := make(map[Hash256]int64)
	for _, f := range info.Files {
		if f.PiecesRoot != (Hash256{}) {
			lengths[f.PiecesRoot] = f.Length
		}
	}
	pl := info.PieceLength
	out := make(map[Hash256][]byte, len(m))
	for k, v := range m {
		var root Hash256
		if len(k) != Hash256Size {
			return nil, fmt.Errorf("'piece layers': a key of %d bytes is not a %d-byte pieces root", len(k), Hash256Size)
		}
		copy(root[:], k)
		n, ok := lengths[root]
		switch {
		case !ok:
			return nil, fmt.Errorf("'piece layers': %s is not the pieces root of any file", root)
		case n <= pl:
			return nil, fmt.Errorf("'piece layers': the file with pieces root %s fits in one piece and has no layer", root)
		}
		layer, ok := d.asString(v)
		if !ok {
			return nil, fmt.Errorf("'piece layers': the layer of %s is not a string", root)
		}
		if want := (n + pl - 1) / pl * Hash256Size; int64(len(layer)) != want {
			return nil, fmt.Errorf("'piece layers': the layer of %s is %d bytes; a file of %d bytes in pieces of %d needs %d", root, len(layer), n, pl, want)
		}
		lb := []byte(layer)
		got, err := PieceLayerRoot(lb, pl)
		if err != nil {
			return nil, fmt.Errorf("'piece layers': %w", err)
		}
		if got != root {
			return nil, fmt.Errorf("'piece layers': the layer of %s hashes to %s, not to the file's pieces root", root, got)
		}
		out[root] = lb
	}
	return out, nil
}
