package metainfo

import (
	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// decoder decodes raw bencode values through bencbound, which checks each
// value before the codec sees it, with one reused read buffer: the codec
// would otherwise allocate 4 KiB per field of every file entry.
type decoder struct {
	bd bencbound.Decoder
}

func newDecoder() *decoder {
	return &decoder{bd: bencbound.Decoder{MaxDepth: maxDepth}}
}

// decode decodes raw, which must hold exactly one value, into v.
func (d *decoder) decode(raw []byte, v any) error {
	return d.bd.Decode(raw, v)
}

// The helpers below decode one field that was kept raw, so that a field
// of the wrong type can be ignored (optional fields, as libtorrent does)
// or reported by name (required fields) instead of failing the whole
// decode with the codec's generic message.

func present(raw bencode.RawMessage) bool { return len(raw) > 0 }

func (d *decoder) asString(raw bencode.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return "", false
	}
	var s string
	if err := d.decode(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func (d *decoder) asInt(raw bencode.RawMessage) (int64, bool) {
	if len(raw) == 0 || raw[0] != 'i' {
		return 0, false
	}
	var n int64
	if err := d.decode(raw, &n); err != nil {
		return 0, false
	}
	return n, true
}

func (d *decoder) asList(raw bencode.RawMessage) ([]bencode.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != 'l' {
		return nil, false
	}
	var l []bencode.RawMessage
	if err := d.decode(raw, &l); err != nil {
		return nil, false
	}
	return l, true
}

func (d *decoder) asDict(raw bencode.RawMessage) (map[string]bencode.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != 'd' {
		return nil, false
	}
	var m map[string]bencode.RawMessage
	if err := d.decode(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// asStrings decodes a list of strings. ok is false when raw is not a list
// or an element is not a string.
func (d *decoder) asStrings(raw bencode.RawMessage) ([]string, bool) {
	if len(raw) == 0 || raw[0] != 'l' {
		return nil, false
	}
	var l []string
	if err := d.decode(raw, &l); err != nil {
		return nil, false
	}
	return l, true
}
