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
	// Payload is a bitfield or an extension message's body.
	Payload []byte
}

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
