package metainfo

import (
	"bufio"
	"bytes"

	"github.com/zeebo/bencode"
)

// decoder decodes raw bencode values with one reused read buffer: the
// codec wraps its input in a 4 KiB bufio.Reader unless it already is
// one, which would otherwise cost 4 KiB per field of every file entry.
type decoder struct {
	rd bytes.Reader
	br *bufio.Reader
}

func newDecoder() *decoder {
	d := &decoder{}
	d.br = bufio.NewReaderSize(&d.rd, 4096)
	return d
}

func (d *decoder) decode(raw []byte, v any) error {
	d.rd.Reset(raw)
	d.br.Reset(&d.rd)
	return bencode.NewDecoder(d.br).Decode(v)
}

// The helpers below decode one field that was kept raw, so that a field
// of the wrong type can be ignored (optional fields, as libtorrent does)
// or reported by name (required fields) instead of failing the whole
// decode with the codec's generic message. Every raw value has already
// passed bencbound.Dict.

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
