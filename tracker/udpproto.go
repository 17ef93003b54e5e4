package tracker

import (
	"encoding/binary"
	"errors"
)

// BEP 15 wire constants.
const (
	udpProtocolID = 0x41727101980

	udpActionConnect  = 0
	udpActionAnnounce = 1
	udpActionScrape   = 2
	udpActionError    = 3

	udpConnectLen     = 16
	udpAnnounceLen    = 98
	udpScrapeHeader   = 16
	udpMaxScrapeCount = 74 // what fits a 1500-byte Ethernet frame's answer (8 + 74*12 < 1472)
)

// udpEvent maps BEP 15's event numbers, which differ from the order of
// our Event constants.
func udpEvent(e Event) uint32 {
	switch e {
	case EventCompleted:
		return 1
	case EventStarted:
		return 2
	case EventStopped:
		return 3
	}
	return 0
}

func eventFromUDP(n uint32) (Event, bool) {
	switch n {
	case 0:
		return EventNone, true
	case 1:
		return EventCompleted, true
	case 2:
		return EventStarted, true
	case 3:
		return EventStopped, true
	}
	return EventNone, false
}

// udpAnnounce is a parsed BEP 15 announce request.
type udpAnnounce struct {
	ConnID   uint64
	TxID     uint32
	Req      AnnounceRequest
	IP       [4]byte
	NumWant  int32
	Extended []byte // BEP 41 options after the fixed part, unused
}

var (
	errUDPShort  = errors.New("udp tracker packet too short")
	errUDPAction = errors.New("udp tracker packet has an unknown action")
	errUDPEvent  = errors.New("udp announce has an unknown event")
)

// parseUDPRequest reads the header every client request shares: the
// connection id (the protocol magic for connect), action and transaction.
func parseUDPRequest(b []byte) (connID uint64, action, tx uint32, err error) {
	if len(b) < 16 {
		return 0, 0, 0, errUDPShort
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:]), nil
}

// parseUDPAnnounce decodes a BEP 15 announce request packet.
func parseUDPAnnounce(b []byte, a *udpAnnounce) error {
	if len(b) < udpAnnounceLen {
		return errUDPShort
	}
	a.ConnID = binary.BigEndian.Uint64(b)
	if binary.BigEndian.Uint32(b[8:]) != udpActionAnnounce {
		return errUDPAction
	}
	a.TxID = binary.BigEndian.Uint32(b[12:])
	copy(a.Req.InfoHash[:], b[16:36])
	copy(a.Req.PeerID[:], b[36:56])
	a.Req.Downloaded = int64(binary.BigEndian.Uint64(b[56:]))
	a.Req.Left = int64(binary.BigEndian.Uint64(b[64:]))
	a.Req.Uploaded = int64(binary.BigEndian.Uint64(b[72:]))
	ev, ok := eventFromUDP(binary.BigEndian.Uint32(b[80:]))
	if !ok {
		return errUDPEvent
	}
	a.Req.Event = ev
	copy(a.IP[:], b[84:88])
	a.Req.Key = binary.BigEndian.Uint32(b[88:])
	a.NumWant = int32(binary.BigEndian.Uint32(b[92:]))
	a.Req.NumWant = int(a.NumWant)
	a.Req.Port = binary.BigEndian.Uint16(b[96:])
	a.Extended = b[udpAnnounceLen:]
	return nil
}

// appendUDPAnnounce encodes an announce request (client side).
func appendUDPAnnounce(b []byte, connID uint64, tx uint32, req AnnounceRequest) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, udpActionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = append(b, req.InfoHash[:]...)
	b = append(b, req.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(req.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Uploaded))
	b = binary.BigEndian.AppendUint32(b, udpEvent(req.Event))
	b = binary.BigEndian.AppendUint32(b, 0) // ip: the source address
	b = binary.BigEndian.AppendUint32(b, req.Key)
	numWant := int32(-1)
	if req.NumWant > 0 {
		numWant = int32(min(req.NumWant, 1<<31-1))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	return binary.BigEndian.AppendUint16(b, req.Port)
}

// appendUDPHeader starts a server answer.
func appendUDPHeader(b []byte, action, tx uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, action)
	return binary.BigEndian.AppendUint32(b, tx)
}

// appendUDPError encodes an error answer.
func appendUDPError(b []byte, tx uint32, msg string) []byte {
	return append(appendUDPHeader(b, udpActionError, tx), msg...)
}
