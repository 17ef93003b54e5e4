package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Decoder reads messages from a stream. It buffers its input and keeps one
// growing payload buffer, so after warm-up decoding allocates nothing.
type Decoder struct {
	r *bufio.Reader
	// MaxLength bounds a message's length prefix; zero means
	// DefaultMaxMessage. Set it before the first Decode.
	MaxLength uint32
	// BlockBuffer, when set, chooses where a piece message's data goes:
	// given the block's piece, offset and length it returns a slice of
	// exactly n bytes to read into (the caller's own buffer, e.g. the
	// tail of a run of blocks it will store with one write), or nil for
	// the Decoder's reused buffer.
	BlockBuffer func(index, begin uint32, n int) []byte
	buf         []byte
	scratch     [8]byte // headers, here so that reading them does not allocate
}

// NewDecoder returns a Decoder reading from r through a buffer of size
// bytes (at least 4 KiB; a larger buffer means fewer system calls on a
// fast connection).
func NewDecoder(r io.Reader, size int) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, max(size, 4096))}
}

// Buffered returns the number of bytes read from the stream but not yet
// decoded.
func (d *Decoder) Buffered() int { return d.r.Buffered() }

// Decode reads the next message into m, overwriting all its fields. A
// keep-alive is reported as ID KeepAlive. Unknown message IDs are returned
// with their payload in m.Payload so the caller can ignore them.
func (d *Decoder) Decode(m *Message) error {
	hdr := d.scratch[:4]
	if _, err := io.ReadFull(d.r, hdr); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr)
	*m = Message{}
	if n == 0 {
		m.ID = KeepAlive
		return nil
	}
	limit := d.MaxLength
	if limit == 0 {
		limit = DefaultMaxMessage
	}
	if n > limit {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLong, n, limit)
	}
	id, err := d.r.ReadByte()
	if err != nil {
		return noEOF(err)
	}
	m.ID = ID(id)
	n-- // payload length
	if want, ok := fixedLen(m.ID); ok && n != want {
		return fmt.Errorf("%w: %v with %d payload bytes", ErrMalformed, m.ID, n)
	}
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return nil
	case Piece:
		if n < 8 || n-8 > MaxBlockSize {
			return fmt.Errorf("%w: piece with %d payload bytes", ErrMalformed, n)
		}
		h := d.scratch[:8]
		if _, err := io.ReadFull(d.r, h); err != nil {
			return noEOF(err)
		}
		m.Index = binary.BigEndian.Uint32(h[0:])
		m.Begin = binary.BigEndian.Uint32(h[4:])
		if d.BlockBuffer != nil {
			if b := d.BlockBuffer(m.Index, m.Begin, int(n-8)); len(b) == int(n-8) {
				if _, err := io.ReadFull(d.r, b); err != nil {
					return noEOF(err)
				}
				m.Block = b
				return nil
			}
		}
		m.Block, err = d.read(int(n - 8))
		return err
	}
	p, err := d.read(int(n))
	if err != nil {
		return err
	}
	switch m.ID {
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(p)
	case Request, Cancel, Reject:
		m.Index = binary.BigEndian.Uint32(p[0:])
		m.Begin = binary.BigEndian.Uint32(p[4:])
		m.Length = binary.BigEndian.Uint32(p[8:])
	case Port:
		m.Port = binary.BigEndian.Uint16(p)
	case HashRequest, HashReject:
		m.Hash = parseHashRange(p)
	case Hashes:
		if len(p) < HashRangeLen || (len(p)-HashRangeLen)%HashSize != 0 {
			return fmt.Errorf("%w: hashes with %d payload bytes", ErrMalformed, len(p))
		}
		m.Hash = parseHashRange(p)
		m.Payload = p[HashRangeLen:]
	case Extended:
		if len(p) < 1 {
			return fmt.Errorf("%w: empty extended message", ErrMalformed)
		}
		m.ExtID = p[0]
		m.Payload = p[1:]
	default: // Bitfield and unknown IDs
		m.Payload = p
	}
	return nil
}

// minGrow is the payload buffer's first size when a message does not fit.
const minGrow = 4 << 10

// read returns the next n bytes in the reused buffer. A length prefix is
// only the peer's claim, so a buffer too small grows as the bytes arrive,
// doubling at most: a peer that claims a megabyte and sends five bytes
// costs a few KiB, not the megabyte.
func (d *Decoder) read(n int) ([]byte, error) {
	b := d.buf[:0]
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, max(2*cap(b), minGrow)))
			copy(nb, b)
			b = nb
			d.buf = nb
		}
		k, err := io.ReadFull(d.r, b[len(b):min(n, cap(b))])
		b = b[:len(b)+k]
		if err != nil {
			return nil, noEOF(err)
		}
	}
	return b, nil
}

// fixedLen returns the payload length a message type must have.
func fixedLen(id ID) (uint32, bool) {
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return 0, true
	case Have, Suggest, AllowedFast:
		return 4, true
	case Request, Cancel, Reject:
		return 12, true
	case Port:
		return 2, true
	case HashRequest, HashReject:
		return HashRangeLen, true
	}
	return 0, false
}

// noEOF turns an EOF in the middle of a message into ErrUnexpectedEOF: only
// a clean end between messages is io.EOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
