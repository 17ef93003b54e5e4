// Package udpproto is the packet format of the UDP tracker protocol
// (BEP 15), shared by the client in package tracker and the server in
// tracker/server so that what one writes is what the other reads.
package udpproto

import (
	"encoding/binary"
	"errors"
)

// ProtocolID is the magic a connect request carries in place of a
// connection id.
const ProtocolID = 0x41727101980

// Actions, the second field of every request and the first of every answer.
const (
	ActionConnect  uint32 = 0
	ActionAnnounce uint32 = 1
	ActionScrape   uint32 = 2
	ActionError    uint32 = 3
)

// Packet sizes.
const (
	ConnectLen      = 16 // a connect request
	AnnounceLen     = 98 // an announce request without BEP 41 options
	ScrapeHeaderLen = 16 // a scrape request before its info-hashes
	// MaxScrapeCount is how many info-hashes one scrape carries: what fits
	// a 1500-byte Ethernet frame's answer (8 + 74*12 < 1472).
	MaxScrapeCount = 74
)

// Announce events as BEP 15 numbers them, an order that differs from
// tracker.Event's.
const (
	EventNone      uint32 = 0
	EventCompleted uint32 = 1
	EventStarted   uint32 = 2
	EventStopped   uint32 = 3
)

// Announce is a BEP 15 announce request.
type Announce struct {
	ConnID           uint64
	TxID             uint32
	InfoHash, PeerID [20]byte
	Downloaded       int64
	Left             int64
	Uploaded         int64
	Event            uint32 // EventNone, EventCompleted, ...
	IP               [4]byte
	Key              uint32
	NumWant          int32 // -1 lets the tracker choose
	Port             uint16
	Extended         []byte // BEP 41 options after the fixed part, unused
}

// Errors of malformed requests.
var (
	ErrShort  = errors.New("udp tracker packet too short")
	ErrAction = errors.New("udp tracker packet has an unknown action")
	ErrEvent  = errors.New("udp announce has an unknown event")
)

// ParseHeader reads the header every client request shares: the
// connection id (the protocol magic for connect), action and transaction.
func ParseHeader(b []byte) (connID uint64, action, tx uint32, err error) {
	if len(b) < 16 {
		return 0, 0, 0, ErrShort
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:]), nil
}

// ParseAnnounce decodes an announce request packet into a. a.Extended
// aliases b.
func ParseAnnounce(b []byte, a *Announce) error {
	if len(b) < AnnounceLen {
		return ErrShort
	}
	a.ConnID = binary.BigEndian.Uint64(b)
	if binary.BigEndian.Uint32(b[8:]) != ActionAnnounce {
		return ErrAction
	}
	a.TxID = binary.BigEndian.Uint32(b[12:])
	copy(a.InfoHash[:], b[16:36])
	copy(a.PeerID[:], b[36:56])
	a.Downloaded = int64(binary.BigEndian.Uint64(b[56:]))
	a.Left = int64(binary.BigEndian.Uint64(b[64:]))
	a.Uploaded = int64(binary.BigEndian.Uint64(b[72:]))
	a.Event = binary.BigEndian.Uint32(b[80:])
	if a.Event > EventStopped {
		return ErrEvent
	}
	copy(a.IP[:], b[84:88])
	a.Key = binary.BigEndian.Uint32(b[88:])
	a.NumWant = int32(binary.BigEndian.Uint32(b[92:]))
	a.Port = binary.BigEndian.Uint16(b[96:])
	a.Extended = b[AnnounceLen:]
	return nil
}

// AppendAnnounce encodes a as an announce request, without a.Extended.
func AppendAnnounce(b []byte, a *Announce) []byte {
	b = binary.BigEndian.AppendUint64(b, a.ConnID)
	b = binary.BigEndian.AppendUint32(b, ActionAnnounce)
	b = binary.BigEndian.AppendUint32(b, a.TxID)
	b = append(b, a.InfoHash[:]...)
	b = append(b, a.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(a.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(a.Uploaded))
	b = binary.BigEndian.AppendUint32(b, a.Event)
	b = append(b, a.IP[:]...)
	b = binary.BigEndian.AppendUint32(b, a.Key)
	b = binary.BigEndian.AppendUint32(b, uint32(a.NumWant))
	return binary.BigEndian.AppendUint16(b, a.Port)
}

// AppendHeader starts an answer: action and transaction id.
func AppendHeader(b []byte, action, tx uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, action)
	return binary.BigEndian.AppendUint32(b, tx)
}

// AppendError encodes an error answer carrying msg.
func AppendError(b []byte, tx uint32, msg string) []byte {
	return append(AppendHeader(b, ActionError, tx), msg...)
}
