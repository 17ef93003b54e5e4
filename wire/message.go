package wire

import (
	"encoding/binary"
	"fmt"
)

// Message is one decoded peer message. Which fields are meaningful depends
// on ID:
//
//	Have, Suggest, AllowedFast:      Index
//	Request, Cancel, Reject:         Index, Begin, Length
//	Piece:                           Index, Begin, Block
//	Bitfield:                        Payload (the raw bitfield)
//	Port:                            Port
//	Extended:                        ExtID, Payload
//	HashRequest, HashReject:         Hash
//	Hashes:                          Hash, Payload (the hashes, 32 bytes each)
//
// Block and Payload alias the Decoder's buffers and are valid only until
// the next call to Decode: copy what must outlive it.
type Message struct {
	ID     ID
	Index  uint32
	Begin  uint32
	Length uint32
	Port   uint16
	ExtID  uint8
	// Block is a piece message's data.
	Block []byte
	// Payload is a bitfield, an extension message's body or a hashes
	// message's hashes.
	Payload []byte
	// Hash is a BEP 52 hash request, hashes or hash reject message's
	// header.
	Hash HashRange
}

// HashRange names a run of nodes of one file's BEP 52 merkle tree, as a
// hash request, hashes or hash reject message does: Length nodes from
// Index in the layer BaseLayer levels above the 16 KiB blocks (0 is the
// blocks' own layer), with the uncle hashes that prove them up to
// ProofLayers levels above the base layer.
type HashRange struct {
	Root        [32]byte // the file's pieces root
	BaseLayer   uint32
	Index       uint32
	Length      uint32
	ProofLayers uint32
}

// HashRangeLen is the length of a HashRange on the wire, and so the
// payload of a hash request or hash reject.
const HashRangeLen = 32 + 4*4

// HashSize is the size of one hash in a hashes message (SHA-256).
const HashSize = 32

// String describes m for logs.
func (m *Message) String() string {
	switch m.ID {
	case Have, Suggest, AllowedFast:
		return fmt.Sprintf("%v %d", m.ID, m.Index)
	case Request, Cancel, Reject:
		return fmt.Sprintf("%v %d+%d/%d", m.ID, m.Index, m.Begin, m.Length)
	case Piece:
		return fmt.Sprintf("piece %d+%d/%d", m.Index, m.Begin, len(m.Block))
	case Extended:
		return fmt.Sprintf("extended %d (%d bytes)", m.ExtID, len(m.Payload))
	case Port:
		return fmt.Sprintf("port %d", m.Port)
	case HashRequest, HashReject, Hashes:
		h := &m.Hash
		s := fmt.Sprintf("%v %x layer %d %d+%d proof %d", m.ID, h.Root[:4], h.BaseLayer, h.Index, h.Length, h.ProofLayers)
		if m.ID == Hashes {
			s += fmt.Sprintf(" (%d hashes)", len(m.Payload)/HashSize)
		}
		return s
	}
	return m.ID.String()
}

// The Append functions append one message's wire form to b, so a caller can
// batch many messages into one write without allocating.

// AppendKeepAlive appends a keep-alive (a zero length prefix).
func AppendKeepAlive(b []byte) []byte { return append(b, 0, 0, 0, 0) }

// AppendSimple appends a message without payload: Choke, Unchoke,
// Interested, NotInterested, HaveAll or HaveNone.
func AppendSimple(b []byte, id ID) []byte { return append(b, 0, 0, 0, 1, byte(id)) }

// AppendIndex appends a message whose payload is a piece index: Have,
// Suggest or AllowedFast.
func AppendIndex(b []byte, id ID, index uint32) []byte {
	b = append(b, 0, 0, 0, 5, byte(id))
	return binary.BigEndian.AppendUint32(b, index)
}

// AppendRequest appends a Request, Cancel or Reject for a block.
func AppendRequest(b []byte, id ID, index, begin, length uint32) []byte {
	b = append(b, 0, 0, 0, 13, byte(id))
	b = binary.BigEndian.AppendUint32(b, index)
	b = binary.BigEndian.AppendUint32(b, begin)
	return binary.BigEndian.AppendUint32(b, length)
}

// AppendPieceHeader appends the 13-byte header of a piece message carrying
// n bytes of data; the caller appends or writes the data itself, which lets
// it read the block straight into the output buffer.
func AppendPieceHeader(b []byte, index, begin uint32, n int) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(9+n))
	b = append(b, byte(Piece))
	b = binary.BigEndian.AppendUint32(b, index)
	return binary.BigEndian.AppendUint32(b, begin)
}

// PieceHeaderLen is the length of what AppendPieceHeader appends.
const PieceHeaderLen = 13

// AppendPiece appends a complete piece message.
func AppendPiece(b []byte, index, begin uint32, data []byte) []byte {
	return append(AppendPieceHeader(b, index, begin, len(data)), data...)
}

// AppendBitfield appends a bitfield message.
func AppendBitfield(b []byte, bits []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+len(bits)))
	b = append(b, byte(Bitfield))
	return append(b, bits...)
}

// AppendPort appends a port message (BEP 5: the peer's DHT port).
func AppendPort(b []byte, port uint16) []byte {
	b = append(b, 0, 0, 0, 3, byte(Port))
	return binary.BigEndian.AppendUint16(b, port)
}

// AppendExtended appends a BEP 10 extension message: extID 0 is the
// extended handshake, other values are the IDs the receiver chose in its
// handshake's "m" dictionary.
func AppendExtended(b []byte, extID uint8, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(2+len(payload)))
	b = append(b, byte(Extended), extID)
	return append(b, payload...)
}

// AppendHashRequest appends a BEP 52 hash request or hash reject (id
// HashRequest or HashReject) for the nodes h names.
func AppendHashRequest(b []byte, id ID, h HashRange) []byte {
	b = append(b, 0, 0, 0, 1+HashRangeLen, byte(id))
	return appendHashRange(b, h)
}

// AppendHashes appends a BEP 52 hashes message answering h: hashes holds
// the requested nodes then their uncles, 32 bytes each.
func AppendHashes(b []byte, h HashRange, hashes []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+HashRangeLen+len(hashes)))
	b = append(b, byte(Hashes))
	b = appendHashRange(b, h)
	return append(b, hashes...)
}

func appendHashRange(b []byte, h HashRange) []byte {
	b = append(b, h.Root[:]...)
	b = binary.BigEndian.AppendUint32(b, h.BaseLayer)
	b = binary.BigEndian.AppendUint32(b, h.Index)
	b = binary.BigEndian.AppendUint32(b, h.Length)
	return binary.BigEndian.AppendUint32(b, h.ProofLayers)
}

// parseHashRange reads a HashRange from the start of p (at least
// HashRangeLen bytes).
func parseHashRange(p []byte) HashRange {
	var h HashRange
	copy(h.Root[:], p)
	h.BaseLayer = binary.BigEndian.Uint32(p[32:])
	h.Index = binary.BigEndian.Uint32(p[36:])
	h.Length = binary.BigEndian.Uint32(p[40:])
	h.ProofLayers = binary.BigEndian.Uint32(p[44:])
	return h
}
