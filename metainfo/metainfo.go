// Package metainfo reads, validates and creates BitTorrent metainfo
// (.torrent files: v1 of BEP 3, v2 and hybrid of BEP 52) and magnet links
// (BEP 9), and answers the
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
// dictionary are ignored.
//
// BitTorrent v2 (BEP 52): a torrent with 'meta version' 2 has a 'file
// tree' and, outside the info dictionary, 'piece layers'; each file is
// hashed on its own as a SHA-256 merkle tree of 16 KiB blocks, and pieces
// never span two files. A v2-only torrent has no v1 'pieces'; its Files
// get pad files between them, as libtorrent does, so that the piece
// geometry below is the same for both kinds. A hybrid has both halves,
// and loads only when they describe the same files (pad files aside) at
// piece-aligned offsets. A piece layer, when present, must hash up to its
// file's pieces root; a missing one is allowed (peers send them).
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

// Hash256Size is the size of a SHA-256 digest: a v2 info-hash, a pieces
// root or a merkle node.
const Hash256Size = 32

// Hash256 is a SHA-256 digest: a v2 info-hash or a BEP 52 merkle node.
type Hash256 [Hash256Size]byte

// String returns the hash as 64 lowercase hex digits.
func (h Hash256) String() string { return hex.EncodeToString(h[:]) }

// Truncated returns the first 20 bytes: how a v2 info-hash goes in the
// peer handshake, to trackers and in the DHT (BEP 52).
func (h Hash256) Truncated() (t Hash) {
	copy(t[:], h[:])
	return t
}

// Version tells which BitTorrent versions a torrent can be used with.
type Version int

const (
	V1     Version = 1 // v1 only (BEP 3)
	V2     Version = 2 // v2 only (BEP 52)
	Hybrid Version = 3 // both: v1 and v2 metadata describing the same files
)

// String returns "v1", "v2" or "hybrid".
func (v Version) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	case Hybrid:
		return "hybrid"
	}
	return "unknown"
}

// MetaInfo is a parsed .torrent file.
type MetaInfo struct {
	// InfoHash is the SHA-1 of the info dictionary's bytes exactly as they
	// appear in the file. A v2-only torrent has no v1 info-hash: there it
	// is InfoHashV2 truncated to 20 bytes, what identifies the torrent on
	// the wire and to trackers.
	InfoHash Hash
	// InfoHashV2 is the SHA-256 of the same bytes, for a v2 or hybrid
	// torrent (zero for v1 only).
	InfoHashV2 Hash256
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

	// PieceLayers maps a file's pieces root to its piece layer: the
	// 32-byte merkle hashes of its pieces, each checked to hash up to the
	// root. Only files larger than a piece have one, and a torrent may
	// leave some (or all) out.
	PieceLayers map[Hash256][]byte
}

// Version tells whether the torrent is v1, v2 or hybrid.
func (m *MetaInfo) Version() Version { return m.Info.Version() }

// HasV1 reports whether the torrent has v1 metadata (SHA-1 piece hashes).
func (m *MetaInfo) HasV1() bool { return m.Info.HasV1() }

// HasV2 reports whether the torrent has v2 metadata (a BEP 52 file tree).
func (m *MetaInfo) HasV2() bool { return m.Info.HasV2() }

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
	// V2 tells that the dictionary has BEP 52 metadata ('meta version' 2
	// and a 'file tree'); Files then carry their PiecesRoot.
	V2 bool
}

// HasV1 reports whether the info dictionary has v1 piece hashes.
func (i *Info) HasV1() bool { return len(i.Pieces) > 0 }

// HasV2 reports whether the info dictionary has BEP 52 metadata.
func (i *Info) HasV2() bool { return i.V2 }

// Version tells whether the info dictionary is v1, v2 or hybrid.
func (i *Info) Version() Version {
	switch {
	case i.HasV1() && i.HasV2():
		return Hybrid
	case i.HasV2():
		return V2
	}
	return V1
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
	// PiecesRoot is the file's BEP 52 merkle root (v2 and hybrid
	// torrents); zero for a v1-only torrent, and for an empty file, a pad
	// file or a symlink, which have none.
	PiecesRoot Hash256
}
