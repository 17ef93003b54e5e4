package wire

import (
	"fmt"

	"github.com/zeebo/bencode"
)

// MetadataPieceSize is the size of every ut_metadata piece but the last.
const MetadataPieceSize = 16 << 10

// ut_metadata message types (BEP 9).
const (
	MetadataRequest = 0
	MetadataData    = 1
	MetadataReject  = 2
)

// MetadataMsg is the dictionary of a ut_metadata message. A data message
// is followed by the piece's bytes, returned separately by ParseMetadata.
type MetadataMsg struct {
	Type      int `bencode:"msg_type"`
	Piece     int `bencode:"piece"`
	TotalSize int `bencode:"total_size,omitempty"`
}

// AppendMetadata appends a ut_metadata payload (for AppendExtended): the
// dictionary, then data for a MetadataData message.
func AppendMetadata(b []byte, m MetadataMsg, data []byte) ([]byte, error) {
	d, err := bencode.EncodeBytes(&m)
	if err != nil {
		return b, fmt.Errorf("encoding ut_metadata: %w", err)
	}
	b = append(b, d...)
	if m.Type == MetadataData {
		b = append(b, data...)
	}
	return b, nil
}

// ParseMetadata decodes a ut_metadata payload. For a data message, data is
// the piece's bytes (aliasing b).
func ParseMetadata(b []byte) (m MetadataMsg, data []byte, err error) {
	n, err := decodeDict(b, &m)
	if err != nil {
		return m, nil, fmt.Errorf("ut_metadata: %w", err)
	}
	if m.Piece < 0 || m.TotalSize < 0 {
		return m, nil, fmt.Errorf("ut_metadata: %w: negative field", ErrMalformed)
	}
	rest := b[n:]
	switch m.Type {
	case MetadataData:
		if len(rest) > MetadataPieceSize {
			return m, nil, fmt.Errorf("ut_metadata: %w: %d-byte piece", ErrMalformed, len(rest))
		}
		return m, rest, nil
	case MetadataRequest, MetadataReject:
		return m, nil, nil
	}
	return m, nil, fmt.Errorf("ut_metadata: %w: message type %d", ErrMalformed, m.Type)
}
