package metainfo

import (
	"errors"
	"fmt"
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

// ErrV2Only is what refuses a BitTorrent v2-only torrent (BEP 52 without
// v1 piece hashes) whose piece hashes are not all known where they are
// needed: the swarm engine verifies a v2-only torrent's pieces with the
// hashes of its 'piece layers', so those missing (a torrent from a magnet
// link has none) must first come from peers by BEP 52 hash requests
// (fetch.Client.ResolveLayers). Parsing accepts such torrents.
var ErrV2Only = errors.New("unsupported: a v2-only torrent (BEP 52) whose piece hashes are not all in its 'piece layers'")

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

// parseInfo decodes and validates an info dictionary into info.
func (d *decoder) parseInfo(data []byte, info *Info) error {
	var ri rawInfo
	if err := d.decode(data, &ri); err != nil {
		return fmt.Errorf("invalid 'info' dictionary: %w", err)
	}
	v, _ := d.asInt(ri.MetaVersion)
	v2 := v == 2
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
	if v2 {
		if err := checkPieceLengthV2(pl); err != nil {
			return err
		}
	}
	if p, ok := d.asInt(ri.Private); ok && p == 1 {
		info.Private = true
	}
	if v2 && !present(ri.Pieces) {
		if err := d.parseV2Only(ri.FileTree, info); err != nil {
			return err
		}
		return checkFiles(info)
	}

	pieces, ok := d.asString(ri.Pieces)
	if !ok {
		return errors.New("info: missing 'pieces' (or it is not a string)")
	}
	if len(pieces)%HashSize != 0 {
		return fmt.Errorf("info: 'pieces' is %d bytes, not a multiple of %d", len(pieces), HashSize)
	}
	info.Pieces = []byte(pieces)

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
	if v2 {
		return d.checkHybrid(ri.FileTree, info)
	}
	return nil
}

// checkFiles applies to a v2-only torrent's files the checks v1 files get.
func checkFiles(info *Info) error {
	if info.Length == 0 {
		return errors.New("info: the torrent holds no data (total length 0)")
	}
	return checkUnique(info.Files)
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
