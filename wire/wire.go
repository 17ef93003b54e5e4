// Package wire is a codec for the BitTorrent peer wire protocol: the
// handshake, the BEP 3 messages, the BEP 6 fast extension, the BEP 10
// extension protocol with its handshake, the payloads of BEP 9
// (ut_metadata) and BEP 11 (ut_pex), and the BEP 52 hash messages. It holds no policy and starts no
// goroutines; package fetch decides what to send and when.
//
// Decoding checks every length prefix against a maximum before allocating
// and reads block payloads into a buffer the Decoder reuses, so the piece
// path produces no garbage.
package wire

import "errors"

// ID identifies a message type (the byte after the length prefix).
type ID uint8

// Message IDs of BEP 3, BEP 6, BEP 10 and BEP 52.
const (
	Choke         ID = 0
	Unchoke       ID = 1
	Interested    ID = 2
	NotInterested ID = 3
	Have          ID = 4
	Bitfield      ID = 5
	Request       ID = 6
	Piece         ID = 7
	Cancel        ID = 8
	Port          ID = 9
	Suggest       ID = 13
	HaveAll       ID = 14
	HaveNone      ID = 15
	Reject        ID = 16
	AllowedFast   ID = 17
	Extended      ID = 20
	HashRequest   ID = 21 // BEP 52
	Hashes        ID = 22 // BEP 52
	HashReject    ID = 23 // BEP 52

	// KeepAlive is not a real ID: a zero-length message has none. The
	// Decoder reports keep-alives with this value.
	KeepAlive ID = 255
)

var idNames = [...]string{
	Choke: "choke", Unchoke: "unchoke", Interested: "interested",
	NotInterested: "not interested", Have: "have", Bitfield: "bitfield",
	Request: "request", Piece: "piece", Cancel: "cancel", Port: "port",
	Suggest: "suggest", HaveAll: "have all", HaveNone: "have none",
	Reject: "reject request", AllowedFast: "allowed fast", Extended: "extended",
	HashRequest: "hash request", Hashes: "hashes", HashReject: "hash reject",
}

// String names the message type as the BEPs do.
func (id ID) String() string {
	if id == KeepAlive {
		return "keep-alive"
	}
	if int(id) < len(idNames) && idNames[id] != "" {
		return idNames[id]
	}
	return "unknown"
}

// BlockSize is the block length every client requests (16 KiB). Peers
// reject longer requests, so it is also the largest we send.
const BlockSize = 16 << 10

// MaxBlockSize is the largest block a Decoder accepts in a piece message.
// It is more generous than BlockSize because some old clients send 32 KiB
// and 128 KiB blocks.
const MaxBlockSize = 128 << 10

// DefaultMaxMessage is the default limit on a message's length. The
// largest legitimate messages are bitfields (one bit per piece) and
// extension messages carrying a 16 KiB metadata piece.
const DefaultMaxMessage = 1 << 20

// Errors the decoder returns; test with errors.Is.
var (
	// ErrTooLong means a length prefix exceeds the decoder's limit: the
	// peer is broken or hostile, and the connection should be dropped.
	ErrTooLong = errors.New("wire: message longer than the limit")
	// ErrMalformed means a message's length does not fit its type.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrHandshake means the first bytes were not a BitTorrent handshake.
	ErrHandshake = errors.New("wire: not a BitTorrent handshake")
)
