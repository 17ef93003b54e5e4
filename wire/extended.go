package wire

import (
	"fmt"
	"net/netip"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// Extension names this package knows the payloads of (BEP 9, BEP 11).
const (
	ExtMetadata = "ut_metadata"
	ExtPEX      = "ut_pex"
)

// ExtendedHandshake is the BEP 10 handshake dictionary (extended message 0).
type ExtendedHandshake struct {
	// M maps extension names to the message IDs the sender wants to
	// receive them with; 0 disables an extension.
	M map[string]int `bencode:"m"`
	// V is the client name and version.
	V string `bencode:"v,omitempty"`
	// P is the sender's listening port (useful after an incoming
	// connection, whose source port is ephemeral).
	P int `bencode:"p,omitempty"`
	// Reqq is how many outstanding requests the sender accepts.
	Reqq int `bencode:"reqq,omitempty"`
	// YourIP is the receiver's address as the sender sees it: 4 or 16 bytes.
	YourIP string `bencode:"yourip,omitempty"`
	// IPv4 and IPv6 are the sender's own addresses, when it knows them.
	IPv4 string `bencode:"ipv4,omitempty"`
	IPv6 string `bencode:"ipv6,omitempty"`
	// MetadataSize is the info dictionary's size (BEP 9).
	MetadataSize int `bencode:"metadata_size,omitempty"`
	// UploadOnly is set by seeds and partial seeds (BEP 21).
	UploadOnly int `bencode:"upload_only,omitempty"`
	// E is 1 when the sender prefers encrypted connections (MSE/PE).
	E int `bencode:"e,omitempty"`
}

// Encode returns the bencoded dictionary, ready for AppendExtended(b, 0, ...).
func (h *ExtendedHandshake) Encode() ([]byte, error) {
	m := h.M
	if m == nil {
		m = map[string]int{} // "m" is mandatory, even when empty
	}
	c := *h
	c.M = m
	b, err := bencode.EncodeBytes(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding extended handshake: %w", err)
	}
	return b, nil
}

// ParseExtendedHandshake decodes an extended handshake payload. Keys it
// does not know are ignored, as BEP 10 requires.
func ParseExtendedHandshake(b []byte) (*ExtendedHandshake, error) {
	var h ExtendedHandshake
	if _, err := decodeDict(b, &h); err != nil {
		return nil, fmt.Errorf("extended handshake: %w", err)
	}
	if h.Reqq < 0 || h.P < 0 || h.P > 65535 || h.MetadataSize < 0 {
		return nil, fmt.Errorf("extended handshake: %w: negative or out-of-range field", ErrMalformed)
	}
	for k, v := range h.M {
		if v < 0 || v > 255 {
			return nil, fmt.Errorf("extended handshake: %w: extension %q has ID %d", ErrMalformed, k, v)
		}
	}
	return &h, nil
}

// YourAddr returns YourIP as an address, if it holds one.
func (h *ExtendedHandshake) YourAddr() (netip.Addr, bool) {
	return netip.AddrFromSlice([]byte(h.YourIP))
}

// decodeDict decodes the bencoded dictionary at the start of b into v and
// returns its length. Trailing bytes are ignored, as they always were.
// Peers send arbitrary bytes, so the input is checked before it is decoded:
// a string claiming more bytes than the payload holds is refused, not
// allocated.
func decodeDict(b []byte, v any) (int, error) {
	var d bencbound.Decoder
	n, err := d.DecodeDict(b, v)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return n, nil
}
