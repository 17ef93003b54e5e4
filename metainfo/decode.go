package metainfo

import (
	"github.com/zeebo/bencode"
)

// The helpers below decode one field that was kept raw, so that a field
// of the wrong type can be ignored (optional fields, as libtorrent does)
// or reported by name (required fields) instead of failing the whole
// decode with the codec's generic message. Every raw value has already
// passed checkBounds.

func present(raw bencode.RawMessage) bool { return len(raw) > 0 }

func asString(raw bencode.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return "", false
	}
	var s string
	if err := bencode.DecodeBytes(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func asInt(raw bencode.RawMessage) (int64, bool) {
	if len(raw) == 0 || raw[0] != 'i' {
		return 0, false
	}
	var n int64
	if err := bencode.DecodeBytes(raw, &n); err != nil {
		return 0, false
	}
	return n, true
}

func asList(raw bencode.RawMessage) ([]bencode.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != 'l' {
		return nil, false
	}
	var l []bencode.RawMessage
	if err := bencode.DecodeBytes(raw, &l); err != nil {
		return nil, false
	}
	return l, true
}

func asDict(raw bencode.RawMessage) (map[string]bencode.RawMessage, bool) {
	if len(raw) == 0 || raw[0] != 'd' {
		return nil, false
	}
	var m map[string]bencode.RawMessage
	if err := bencode.DecodeBytes(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// asStrings decodes a list of strings. ok is false when raw is not a list
// or an element is not a string.
func asStrings(raw bencode.RawMessage) ([]string, bool) {
	l, ok := asList(raw)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := asString(e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
