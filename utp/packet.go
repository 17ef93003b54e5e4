package utp

import (
	"encoding/binary"
	"errors"
)

// Packet types (BEP 29).
const (
	stData  = 0
	stFin   = 1
	stState = 2
	stReset = 3
	stSyn   = 4
)

const (
	version   = 1
	headerLen = 20
	extSACK   = 1
	// extMaxDatagram is torfs's own extension: 4 bytes, the largest
	// datagram the sender accepts. Other implementations skip unknown
	// extensions (BEP 29's chain carries each one's length), and only a
	// peer that sent it is sent datagrams bigger than packetSize.
	extMaxDatagram = 0xd7
	// maxSACKBytes bounds the selective-ack bitmask we send and accept:
	// 1024 packets past the first gap. A window over the emulated WAN
	// (netemu.WANDefaults: 100 Mbit/s, 50 ms, 90 ms of buffer) holds
	// about 1200 packets; with only 256 covered, as before, the packets
	// past them were never known to have arrived, their bytes stayed in
	// flight after a burst of losses, and the window stalled until the
	// retransmission timeout. A multiple of 4, as BEP 29 asks.
	maxSACKBytes = 128
)

var errBadPacket = errors.New("utp: malformed packet")

// header is a decoded uTP packet header with its selective ack, if any.
type header struct {
	typ       byte
	connID    uint16
	timestamp uint32 // sender's clock, microseconds
	tsDiff    uint32 // sender's view of our one-way delay, microseconds
	wnd       uint32 // sender's free receive window, bytes
	seq       uint16
	ack       uint16
	// sack is the selective-ack bitmask (bit i = ack+2+i received);
	// nSACK bytes of it are valid.
	sack  [maxSACKBytes]byte
	nSACK int
	// maxDatagram is the peer's extMaxDatagram; 0 when absent.
	maxDatagram uint32
}

// isUTP tells uTP packets from the other datagrams on the socket (a KRPC
// message starts with 'd'): version 1 in the low nibble and a known type.
func isUTP(b []byte) bool {
	return len(b) >= headerLen && b[0]&0x0f == version && b[0]>>4 <= stSyn
}

// parse decodes b into h and returns the payload, which aliases b.
func (h *header) parse(b []byte) ([]byte, error) {
	if !isUTP(b) {
		return nil, errBadPacket
	}
	h.typ = b[0] >> 4
	ext := b[1]
	h.connID = binary.BigEndian.Uint16(b[2:])
	h.timestamp = binary.BigEndian.Uint32(b[4:])
	h.tsDiff = binary.BigEndian.Uint32(b[8:])
	h.wnd = binary.BigEndian.Uint32(b[12:])
	h.seq = binary.BigEndian.Uint16(b[16:])
	h.ack = binary.BigEndian.Uint16(b[18:])
	h.nSACK, h.sack = 0, [maxSACKBytes]byte{}
	h.maxDatagram = 0
	b = b[headerLen:]
	for ext != 0 {
		if len(b) < 2 {
			return nil, errBadPacket
		}
		next, n := b[0], int(b[1])
		if len(b) < 2+n {
			return nil, errBadPacket
		}
		if ext == extSACK {
			// BEP 29 says a multiple of 4 bytes, but libtorrent sends
			// as many bytes as its reorder buffer spans (1 to over
			// 1000): take any length and keep the first maxSACKBytes.
			// Dropping such a packet would drop its cumulative ack too.
			// A second one replaces the first.
			h.sack = [maxSACKBytes]byte{}
			h.nSACK = copy(h.sack[:], b[2:2+n])
		}
		if ext == extMaxDatagram && n == 4 {
			h.maxDatagram = binary.BigEndian.Uint32(b[2:])
		}
		ext = next
		b = b[2+n:]
	}
	return b, nil
}

// appendHeader appends h's wire form (with its selective ack when nSACK >
// 0) to b.
func (h *header) append(b []byte) []byte {
	ext := byte(0)
	switch {
	case h.nSACK > 0:
		ext = extSACK
	case h.maxDatagram > 0:
		ext = extMaxDatagram
	}
	b = append(b, h.typ<<4|version, ext)
	b = binary.BigEndian.AppendUint16(b, h.connID)
	b = binary.BigEndian.AppendUint32(b, h.timestamp)
	b = binary.BigEndian.AppendUint32(b, h.tsDiff)
	b = binary.BigEndian.AppendUint32(b, h.wnd)
	b = binary.BigEndian.AppendUint16(b, h.seq)
	b = binary.BigEndian.AppendUint16(b, h.ack)
	if h.nSACK > 0 {
		next := byte(0)
		if h.maxDatagram > 0 {
			next = extMaxDatagram
		}
		b = append(b, next, byte(h.nSACK))
		b = append(b, h.sack[:h.nSACK]...)
	}
	if h.maxDatagram > 0 {
		b = append(b, 0, 4)
		b = binary.BigEndian.AppendUint32(b, h.maxDatagram)
	}
	return b
}

// seqLess compares 16-bit sequence numbers across wrap-around.
func seqLess(a, b uint16) bool { return int16(a-b) < 0 }
