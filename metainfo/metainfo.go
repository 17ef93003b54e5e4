// Package metainfo reads, validates and creates BitTorrent v1 metainfo
// (.torrent files, BEP 3) and magnet links (BEP 9), and answers the
// geometry questions every other package asks: which bytes a piece covers,
// which files a piece touches, which pieces a file range needs.
//
// Path policy: reject, never rewrite. A file path (or the name, or a BEP 47
// symlink target) with an empty, "." or ".." component, a component holding
// '/', '\\' or NUL, or a path used twice (or used both as a file and as a
// directory) makes Parse fail with an error naming the field. So every
// accepted path stays below the torrent's root and names one file only.
// The one rewrite is harmless: a component longer than 255 bytes is
// shortened (keeping its extension) so the kernel never sees
// ENAMETOOLONG. Pad files (BEP 47 attribute "p", or a name starting with
// "_____padding_file_") take part in the geometry under the path
// [".pad", size] and are never shown or stored.
//
// Parse never trusts a size from the file for allocation: string lengths
// are checked against the input before decoding, nesting is bounded,
// and piece counts are compared arithmetically. Bytes after the top-level
// dictionary are ignored. BitTorrent v2-only torrents fail with ErrV2Only;
// hybrid torrents load through their v1 fields after a check that the v1
// and v2 file lists agree.
package metainfo

import (
	"encoding/hex"
	"time"
)

// HashSize is the size of a SHA-1 digest: an info-hash or a piece hash.
const HashSize = 20

// Hash is a SHA-1 digest: a torrent's info-hash or one piece's hash.
type Hash [HashSize]byte

// String returns the hash as 40 lowercase hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MetaInfo is a parsed .torrent file.
type MetaInfo struct {
	// InfoHash is the SHA-1 of the info dictionary's bytes exactly as they
	// appear in the file.
	InfoHash Hash
	// InfoBytes are those bytes (served to peers by BEP 9).
	InfoBytes []byte
	Info      Info

	Announce     string
	AnnounceList [][]string // BEP 12 tiers; empty when the file has none
	URLList      []string   // BEP 19 web seeds
	HTTPSeeds    []string   // BEP 17
	Nodes        []string   // DHT bootstrap nodes as "host:port"
	Comment      string
	CreatedBy    string
	CreationDate time.Time // zero when absent
}

// Trackers returns the announce URLs as BEP 12 tiers: announce-list when
// present, otherwise announce as a single tier.
func (m *MetaInfo) Trackers() [][]string {
	if len(m.AnnounceList) > 0 {
		return m.AnnounceList
	}
	if m.Announce != "" {
		return [][]string{{m.Announce}}
	}
	return nil
}

// Info is the info dictionary: what the info-hash identifies.
type Info struct {
	// Name is the suggested name of the file (single-file torrent) or of the
	// root directory (multi-file torrent), already made safe as a path
	// component.
	Name        string
	PieceLength int64
	// Pieces holds the concatenated 20-byte SHA-1 hashes of all pieces.
	Pieces  []byte
	Private bool
	// MultiFile tells whether the torrent has a "files" list (its files
	// live under the Name directory) or a single "length".
	MultiFile bool
	// Files lists every file in torrent order, pad files included, each
	// with its offset in the torrent's byte space. A single-file torrent
	// has one entry whose Path is [Name].
	Files []File
	// Length is the total size of all files, pad files included.
	Length int64
}

// File is one file of a torrent.
type File struct {
	// Path is the file's path below the torrent root as safe components:
	// none is empty, ".", "..", or contains '/', '\\' or NUL.
	Path   []string
	Length int64
	// Offset is where the file starts in the torrent's byte space.
	Offset int64
	// Pad marks a BEP 47 padding file: it takes part in the piece geometry
	// but is never shown or stored as a file.
	Pad        bool
	Executable bool
	Hidden     bool
	// Symlink, when not nil, is the BEP 47 link target (components
	// relative to the torrent root); the file then has no content.
	Symlink []string
}
