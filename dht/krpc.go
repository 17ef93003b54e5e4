package dht

import (
	"errors"
	"fmt"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// KRPC error codes (BEP 5).
const (
	errGeneric  = 201
	errServer   = 202
	errProtocol = 203
	errMethod   = 204
)

// Field limits: generous for every known client, small enough that a
// packet cannot make us keep much.
const (
	maxTxID  = 16
	maxToken = 64
	maxQuery = 32
)

// message is one KRPC packet. Unknown keys are ignored, as BEP 5 asks for
// forward compatibility.
type message struct {
	T  string             `bencode:"t"`
	Y  string             `bencode:"y"`
	Q  string             `bencode:"q,omitempty"`
	A  *queryArgs         `bencode:"a,omitempty"`
	R  *reply             `bencode:"r,omitempty"`
	E  bencode.RawMessage `bencode:"e,omitempty"`
	RO int64              `bencode:"ro,omitempty"` // BEP 43: the querier is read-only
	V  string             `bencode:"v,omitempty"`
}

type queryArgs struct {
	ID          string   `bencode:"id"`
	Target      string   `bencode:"target,omitempty"`
	InfoHash    string   `bencode:"info_hash,omitempty"`
	Port        int64    `bencode:"port,omitempty"`
	ImpliedPort int64    `bencode:"implied_port,omitempty"`
	Token       string   `bencode:"token,omitempty"`
	Want        []string `bencode:"want,omitempty"` // BEP 32: "n4", "n6"
}

type reply struct {
	ID     string   `bencode:"id"`
	Nodes  string   `bencode:"nodes,omitempty"`
	Nodes6 string   `bencode:"nodes6,omitempty"`
	Token  string   `bencode:"token,omitempty"`
	Values []string `bencode:"values,omitempty"`
}

// krpcError is an error reply ("y": "e").
type krpcError struct {
	Code int64
	Msg  string
}

func (e *krpcError) Error() string {
	return fmt.Sprintf("DHT node answered error %d: %s", e.Code, e.Msg)
}

// decoder decodes packets through bencbound, which checks each one
// before the codec sees it and reuses one read buffer (the codec would
// otherwise allocate 4 KiB per packet). A decoder serves one goroutine.
type decoder struct {
	bd bencbound.Decoder
}

func newDecoder() *decoder {
	return &decoder{bd: bencbound.Decoder{MaxDepth: maxDepth}}
}

// decodeMessage is decoder.decode for one-off callers.
func decodeMessage(b []byte) (*message, error) { return newDecoder().decode(b) }

// decode parses and validates one packet. Whatever it returns has
// a transaction id, a known type, a 20-byte node id in queries and
// replies, and well-formed compact fields; method arguments are checked
// by the handler of each method.
func (d *decoder) decode(b []byte) (*message, error) {
	if len(b) == 0 || b[0] != 'd' {
		return nil, fmt.Errorf("invalid KRPC packet: %w", bencbound.ErrNotDict)
	}
	var m message
	if err := d.bd.Decode(b, &m); err != nil {
		return nil, fmt.Errorf("invalid KRPC packet: %w", err)
	}
	if len(m.T) == 0 || len(m.T) > maxTxID {
		return nil, fmt.Errorf("invalid KRPC packet: transaction id of %d bytes", len(m.T))
	}
	switch m.Y {
	case "q":
		if m.Q == "" || len(m.Q) > maxQuery {
			return nil, errors.New("invalid KRPC query: bad method name")
		}
		if m.A == nil || len(m.A.ID) != 20 {
			return nil, errors.New("invalid KRPC query: no 20-byte node id")
		}
	case "r":
		if m.R == nil || len(m.R.ID) != 20 {
			return nil, errors.New("invalid KRPC reply: no 20-byte node id")
		}
		if len(m.R.Nodes)%compactNode4 != 0 || len(m.R.Nodes6)%compactNode6 != 0 {
			return nil, errors.New("invalid KRPC reply: nodes not a whole number of compact nodes")
		}
		if len(m.R.Token) > maxToken {
			return nil, errors.New("invalid KRPC reply: token too long")
		}
		for _, v := range m.R.Values {
			if len(v) != compactPeer4 && len(v) != compactPeer6 {
				return nil, fmt.Errorf("invalid KRPC reply: peer value of %d bytes", len(v))
			}
		}
	case "e":
		if _, err := decodeError(m.E); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("invalid KRPC packet: unknown type %q", m.Y)
	}
	return &m, nil
}

// decodeError reads an error reply's [code, message] list.
func decodeError(raw bencode.RawMessage) (*krpcError, error) {
	if len(raw) == 0 || raw[0] != 'l' {
		return nil, errors.New("invalid KRPC error: \"e\" is not a list")
	}
	var l []any
	if err := bencbound.Decode(raw, &l); err != nil {
		return nil, fmt.Errorf("invalid KRPC error: %w", err)
	}
	if len(l) < 2 {
		return nil, errors.New("invalid KRPC error: want [code, message]")
	}
	code, ok1 := l[0].(int64)
	msg, ok2 := l[1].(string)
	if !ok1 || !ok2 {
		return nil, errors.New("invalid KRPC error: want [code, message]")
	}
	return &krpcError{Code: code, Msg: msg}, nil
}

func encodeError(t string, code int64, msg string) ([]byte, error) {
	e, err := bencode.EncodeBytes([]any{code, msg})
	if err != nil {
		return nil, err
	}
	return bencode.EncodeBytes(&message{T: t, Y: "e", E: e})
}
