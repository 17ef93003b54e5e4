package wire

import (
	"fmt"
	"io"
)

// protocol is the fixed handshake prefix: length byte and name.
const protocol = "\x13BitTorrent protocol"

// HandshakeLen is the length of a complete handshake.
const HandshakeLen = 68

// Reserved holds the 8 reserved handshake bytes that advertise extensions.
type Reserved [8]byte

// Bits of Reserved, as (byte index, mask) pairs from the BEPs.
const (
	dhtByte, dhtMask           = 7, 0x01 // BEP 5
	fastByte, fastMask         = 7, 0x04 // BEP 6
	extendedByte, extendedMask = 5, 0x10 // BEP 10
	v2Byte, v2Mask             = 7, 0x10 // BEP 52
)

// DHT reports the BEP 5 bit (the peer accepts a port message).
func (r Reserved) DHT() bool { return r[dhtByte]&dhtMask != 0 }

// Fast reports the BEP 6 fast extension bit.
func (r Reserved) Fast() bool { return r[fastByte]&fastMask != 0 }

// Extended reports the BEP 10 extension protocol bit.
func (r Reserved) Extended() bool { return r[extendedByte]&extendedMask != 0 }

// V2 reports the BEP 52 bit: the peer speaks BitTorrent v2 (the hash
// messages) for a torrent with a v2 info-hash.
func (r Reserved) V2() bool { return r[v2Byte]&v2Mask != 0 }

// SetDHT sets or clears the BEP 5 bit.
func (r *Reserved) SetDHT(on bool) { r.set(dhtByte, dhtMask, on) }

// SetFast sets or clears the BEP 6 bit.
func (r *Reserved) SetFast(on bool) { r.set(fastByte, fastMask, on) }

// SetExtended sets or clears the BEP 10 bit.
func (r *Reserved) SetExtended(on bool) { r.set(extendedByte, extendedMask, on) }

// SetV2 sets or clears the BEP 52 bit.
func (r *Reserved) SetV2(on bool) { r.set(v2Byte, v2Mask, on) }

func (r *Reserved) set(i int, mask byte, on bool) {
	if on {
		r[i] |= mask
	} else {
		r[i] &^= mask
	}
}

// Handshake is the first message in each direction of a connection.
type Handshake struct {
	Reserved Reserved
	InfoHash [20]byte
	PeerID   [20]byte
}

// AppendHandshake appends the wire form of h to b.
func AppendHandshake(b []byte, h Handshake) []byte {
	b = append(b, protocol...)
	b = append(b, h.Reserved[:]...)
	b = append(b, h.InfoHash[:]...)
	return append(b, h.PeerID[:]...)
}

// WriteHandshake writes h to w in one call.
func WriteHandshake(w io.Writer, h Handshake) error {
	var buf [HandshakeLen]byte
	_, err := w.Write(AppendHandshake(buf[:0], h))
	return err
}

// ReadHandshake reads a complete handshake from r. A receiving side that
// must choose a torrent before answering reads the whole handshake first:
// the info-hash comes before the peer id, and every client sends both at
// once.
func ReadHandshake(r io.Reader) (Handshake, error) {
	var buf [HandshakeLen]byte
	var h Handshake
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return h, fmt.Errorf("reading handshake: %w", err)
	}
	return ParseHandshake(buf[:])
}

// ParseHandshake decodes a 68-byte handshake.
func ParseHandshake(b []byte) (Handshake, error) {
	var h Handshake
	if len(b) < HandshakeLen || string(b[:len(protocol)]) != protocol {
		return h, ErrHandshake
	}
	b = b[len(protocol):]
	copy(h.Reserved[:], b[:8])
	copy(h.InfoHash[:], b[8:28])
	copy(h.PeerID[:], b[28:48])
	return h, nil
}
