package metainfo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zeebo/bencode"
)

// fileEntry is one entry of a 'files' list with the fields that could be
// decoded, before validation.
type fileEntry struct {
	length    int64
	hasLength bool
	path      []string
	hasPath   bool
	badPath   bool // 'path' present but not a list of strings
	attr      string
	symlink   []string
	hasLink   bool
}

// typedFile decodes a well-formed entry in one pass. Any field of an
// unexpected type makes the whole list fail to decode this way, and the
// entries are then decoded leniently through rawFile.
type typedFile struct {
	Length      *int64    `bencode:"length"`
	Path        *[]string `bencode:"path"`
	PathUTF8    *[]string `bencode:"path.utf-8"`
	Attr        string    `bencode:"attr"`
	SymlinkPath *[]string `bencode:"symlink path"`
}

func (t *typedFile) entry() fileEntry {
	e := fileEntry{attr: t.Attr}
	if t.Length != nil {
		e.length, e.hasLength = *t.Length, true
	}
	switch {
	case t.PathUTF8 != nil:
		e.path, e.hasPath = *t.PathUTF8, true
	case t.Path != nil:
		e.path, e.hasPath = *t.Path, true
	}
	if t.SymlinkPath != nil {
		e.symlink, e.hasLink = *t.SymlinkPath, true
	}
	return e
}

type rawFile struct {
	Length      bencode.RawMessage `bencode:"length"`
	Path        bencode.RawMessage `bencode:"path"`
	PathUTF8    bencode.RawMessage `bencode:"path.utf-8"`
	Attr        bencode.RawMessage `bencode:"attr"`
	SymlinkPath bencode.RawMessage `bencode:"symlink path"`
}

// rawEntry decodes each field on its own: a wrong path.utf-8 falls back
// to path, a wrong attr is ignored, and the rest is left to validation.
func (d *decoder) rawEntry(rf *rawFile) fileEntry {
	var e fileEntry
	e.length, e.hasLength = d.asInt(rf.Length)
	e.attr, _ = d.asString(rf.Attr)
	if e.path, e.hasPath = d.asStrings(rf.PathUTF8); !e.hasPath {
		e.path, e.hasPath = d.asStrings(rf.Path)
		e.badPath = present(rf.Path) && !e.hasPath
	}
	e.symlink, e.hasLink = d.asStrings(rf.SymlinkPath)
	return e
}

// parseFiles decodes a multi-file 'files' list into info.Files and sets
// info.Length.
func (d *decoder) parseFiles(raw bencode.RawMessage, info *Info) error {
	var entries []fileEntry
	var typed []typedFile
	if err := d.decode(raw, &typed); err == nil {
		entries = make([]fileEntry, len(typed))
		for i := range typed {
			entries[i] = typed[i].entry()
		}
	} else {
		raws, ok := d.asList(raw)
		if !ok {
			return errors.New("info: 'files' is not a list")
		}
		entries = make([]fileEntry, len(raws))
		for i, e := range raws {
			var rf rawFile
			if len(e) == 0 || e[0] != 'd' {
				return fmt.Errorf("info.files[%d]: not a dictionary", i)
			}
			if err := d.decode(e, &rf); err != nil {
				return fmt.Errorf("info.files[%d]: invalid file entry: %w", i, err)
			}
			entries[i] = d.rawEntry(&rf)
		}
	}
	if len(entries) == 0 {
		return errors.New("info: 'files' is empty: the torrent has no files")
	}
	info.MultiFile = true
	info.Files = make([]File, 0, len(entries))
	var off int64
	for i := range entries {
		f, err := entries[i].file()
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

// file validates the entry and makes it a File (Offset not set).
func (e *fileEntry) file() (File, error) {
	f := File{
		Executable: strings.Contains(e.attr, "x"),
		Hidden:     strings.Contains(e.attr, "h"),
	}
	symlink := strings.Contains(e.attr, "l")
	// A symlink has no payload; libtorrent ignores any 'length' it has.
	if !symlink {
		if !e.hasLength {
			return File{}, errors.New("missing 'length' (or it is not an integer)")
		}
		if err := checkLength("'length'", e.length); err != nil {
			return File{}, err
		}
		f.Length = e.length
	}
	if e.badPath {
		return File{}, errors.New("'path' is not a list of strings")
	}
	parts := e.path
	f.Pad = strings.Contains(e.attr, "p") || (len(parts) > 0 && strings.HasPrefix(parts[len(parts)-1], padPrefix))
	if f.Pad {
		// Pad files are never stored or shown, so their own path (often
		// missing or just a number) does not matter.
		f.Path = []string{".pad", strconv.FormatInt(f.Length, 10)}
		return f, nil
	}
	if !e.hasPath {
		return File{}, errors.New("missing 'path'")
	}
	path, err := checkPath(parts)
	if err != nil {
		return File{}, fmt.Errorf("unsafe path %q: %w", parts, err)
	}
	f.Path = path
	if symlink {
		if !e.hasLink {
			return File{}, errors.New("symlink without a valid 'symlink path' list of strings")
		}
		t, err := checkPath(e.symlink)
		if err != nil {
			return File{}, fmt.Errorf("unsafe symlink path %q: %w", e.symlink, err)
		}
		f.Symlink = t
	}
	return f, nil
}
