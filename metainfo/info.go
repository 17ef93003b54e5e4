package metainfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/bencode"
)

// Limits on what a torrent may claim. Lengths are checked against these
// before any arithmetic, and nothing is ever allocated from them.
const (
	// MaxPieceLength is libtorrent's limit (32767 blocks of 16 KiB,
	// rounded up to 512 MiB).
	MaxPieceLength = 512 << 20
	// MaxLength bounds a torrent's total size (1 PiB).
	MaxLength = 1 << 50
)

// ErrV2Only is returned for BitTorrent v2-only torrents (BEP 52 without
// v1 piece hashes), which torfs does not support. Hybrid torrents load
// through their v1 fields.
var ErrV2Only = errors.New("unsupported: v2-only torrent (BEP 52 without v1 piece hashes)")

// padPrefix is the name BitComet-style pad files start with (BEP 47
// predates the "p" attribute).
const padPrefix = "_____padding_file_"

type rawInfo struct {
	Name        bencode.RawMessage `bencode:"name"`
	NameUTF8    bencode.RawMessage `bencode:"name.utf-8"`
	PieceLength bencode.RawMessage `bencode:"piece length"`
	Pieces      bencode.RawMessage `bencode:"pieces"`
	Private     bencode.RawMessage `bencode:"private"`
	Length      bencode.RawMessage `bencode:"length"`
	Files       bencode.RawMessage `bencode:"files"`
	Attr        bencode.RawMessage `bencode:"attr"`
	MetaVersion bencode.RawMessage `bencode:"meta version"`
	FileTree    bencode.RawMessage `bencode:"file tree"`
}

type rawFile struct {
	Length      bencode.RawMessage `bencode:"length"`
	Path        bencode.RawMessage `bencode:"path"`
	PathUTF8    bencode.RawMessage `bencode:"path.utf-8"`
	Attr        bencode.RawMessage `bencode:"attr"`
	SymlinkPath bencode.RawMessage `bencode:"symlink path"`
}

// parseInfo decodes and validates an info dictionary into info.
func (d *decoder) parseInfo(data []byte, info *Info) error {
	var ri rawInfo
	if err := d.decode(data, &ri); err != nil {
		return fmt.Errorf("invalid 'info' dictionary: %w", err)
	}
	v, _ := d.asInt(ri.MetaVersion)
	if v == 2 && !present(ri.Pieces) {
		return ErrV2Only
	}
	name, ok := d.asString(ri.NameUTF8)
	if !ok {
		name, ok = d.asString(ri.Name)
	}
	if !ok {
		return errors.New("info: missing 'name' (or it is not a string)")
	}
	if err := checkComponent(name); err != nil {
		return fmt.Errorf("info.name: unsafe name %q: %w", name, err)
	}
	info.Name = fitComponent(name)

	pl, ok := d.asInt(ri.PieceLength)
	switch {
	case !ok:
		return errors.New("info: missing 'piece length' (or it is not an integer)")
	case pl <= 0:
		return fmt.Errorf("info: 'piece length' is %d; it must be positive", pl)
	case pl > MaxPieceLength:
		return fmt.Errorf("info: 'piece length' is %d; the largest supported is %d", pl, MaxPieceLength)
	}
	info.PieceLength = pl

	pieces, ok := d.asString(ri.Pieces)
	if !ok {
		return errors.New("info: missing 'pieces' (or it is not a string)")
	}
	if len(pieces)%HashSize != 0 {
		return fmt.Errorf("info: 'pieces' is %d bytes, not a multiple of %d", len(pieces), HashSize)
	}
	info.Pieces = []byte(pieces)
	if p, ok := d.asInt(ri.Private); ok && p == 1 {
		info.Private = true
	}

	if present(ri.Files) {
		if err := d.parseFiles(ri.Files, info); err != nil {
			return err
		}
	} else {
		n, ok := d.asInt(ri.Length)
		if !ok {
			return errors.New("info: neither 'files' nor 'length' (a single file's size) is present")
		}
		if err := checkLength("info: 'length'", n); err != nil {
			return err
		}
		attr, _ := d.asString(ri.Attr)
		info.Files = []File{{
			Path: []string{info.Name}, Length: n,
			Executable: strings.Contains(attr, "x"), Hidden: strings.Contains(attr, "h"),
		}}
		info.Length = n
	}
	if info.Length == 0 {
		return errors.New("info: the torrent holds no data (total length 0)")
	}
	want := (info.Length + pl - 1) / pl
	if have := int64(info.NumPieces()); have != want {
		return fmt.Errorf("info: 'pieces' holds %d hashes, but %d bytes in pieces of %d need %d", have, info.Length, pl, want)
	}
	if err := checkUnique(info.Files); err != nil {
		return err
	}
	if v == 2 {
		if err := d.checkHybrid(ri.FileTree, info); err != nil {
			return err
		}
	}
	return nil
}

// checkLength validates a file length; field names it in the error.
func checkLength(field string, n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("%s is negative (%d)", field, n)
	case n > MaxLength:
		return fmt.Errorf("%s is %d, larger than the supported %d", field, n, int64(MaxLength))
	}
	return nil
}

// parseFiles decodes a multi-file 'files' list into info.Files and sets
// info.Length.
func (d *decoder) parseFiles(raw bencode.RawMessage, info *Info) error {
	// One decode of the whole list is much cheaper than one per entry;
	// only if it fails is each entry decoded alone, to say which is bad.
	var list []rawFile
	if err := d.decode(raw, &list); err != nil {
		raws, ok := d.asList(raw)
		if !ok {
			return errors.New("info: 'files' is not a list")
		}
		list = make([]rawFile, len(raws))
		for i, e := range raws {
			if len(e) == 0 || e[0] != 'd' {
				return fmt.Errorf("info.files[%d]: not a dictionary", i)
			}
			if err := d.decode(e, &list[i]); err != nil {
				return fmt.Errorf("info.files[%d]: invalid file entry: %w", i, err)
			}
		}
	}
	if len(list) == 0 {
		return errors.New("info: 'files' is empty: the torrent has no files")
	}
	info.MultiFile = true
	info.Files = make([]File, 0, len(list))
	var off int64
	for i := range list {
		f, err := d.parseFile(&list[i])
		if err != nil {
			return fmt.Errorf("info.files[%d]: %w", i, err)
		}
		f.Offset = off
		off += f.Length
		if off > MaxLength {
			return fmt.Errorf("info.files: total length is larger than the supported %d", int64(MaxLength))
		}
		info.Files = append(info.Files, f)
	}
	info.Length = off
	return nil
}

func (d *decoder) parseFile(rf *rawFile) (File, error) {
	attr, _ := d.asString(rf.Attr)
	f := File{
		Executable: strings.Contains(attr, "x"),
		Hidden:     strings.Contains(attr, "h"),
	}
	symlink := strings.Contains(attr, "l")
	if !symlink {
		n, ok := d.asInt(rf.Length)
		if !ok {
			return File{}, errors.New("missing 'length' (or it is not an integer)")
		}
		if err := checkLength("'length'", n); err != nil {
			return File{}, err
		}
		f.Length = n
	}
	parts, ok := d.asStrings(rf.PathUTF8)
	if !ok {
		parts, ok = d.asStrings(rf.Path)
		if present(rf.Path) && !ok {
			return File{}, errors.New("'path' is not a list of strings")
		}
	}
	f.Pad = strings.Contains(attr, "p") || (len(parts) > 0 && strings.HasPrefix(parts[len(parts)-1], padPrefix))
	if f.Pad {
		// Pad files are never stored or shown, so their own path (often
		// missing or just a number) does not matter.
		f.Path = []string{".pad", strconv.FormatInt(f.Length, 10)}
		return f, nil
	}
	if !ok {
		return File{}, errors.New("missing 'path'")
	}
	path, err := checkPath(parts)
	if err != nil {
		return File{}, fmt.Errorf("unsafe path %q: %w", parts, err)
	}
	f.Path = path
	if symlink {
		target, ok := d.asStrings(rf.SymlinkPath)
		if !ok {
			return File{}, errors.New("symlink without a valid 'symlink path' list of strings")
		}
		t, err := checkPath(target)
		if err != nil {
			return File{}, fmt.Errorf("unsafe symlink path %q: %w", target, err)
		}
		f.Symlink = t
	}
	return f, nil
}
