package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/zeebo/bencode"
)

// PEX is a BEP 11 ut_pex message: peers added and dropped since the last
// message, as compact strings (6 bytes per IPv4 peer, 18 per IPv6 peer).
// Use CompactPeers and ParseCompactPeers to convert.
type PEX struct {
	Added    string `bencode:"added,omitempty"`
	AddedF   string `bencode:"added.f,omitempty"` // one flag byte per added peer
	Added6   string `bencode:"added6,omitempty"`
	Added6F  string `bencode:"added6.f,omitempty"`
	Dropped  string `bencode:"dropped,omitempty"`
	Dropped6 string `bencode:"dropped6,omitempty"`
}

// PEX flag bits (added.f).
const (
	PEXEncryption = 0x01
	PEXSeed       = 0x02
	PEXUTP        = 0x04
	PEXHolepunch  = 0x08
	PEXReachable  = 0x10
)

// Encode returns the bencoded message.
func (p *PEX) Encode() ([]byte, error) {
	b, err := bencode.EncodeBytes(p)
	if err != nil {
		return nil, fmt.Errorf("encoding ut_pex: %w", err)
	}
	return b, nil
}

// ParsePEX decodes a ut_pex payload.
func ParsePEX(b []byte) (*PEX, error) {
	var p PEX
	if _, err := decodeDict(b, &p); err != nil {
		return nil, fmt.Errorf("ut_pex: %w", err)
	}
	return &p, nil
}

// CompactPeers encodes addresses in the compact form: IPv4 ones in v4 and
// IPv6 ones in v6.
func CompactPeers(addrs []netip.AddrPort) (v4, v6 string) {
	var b4, b6 []byte
	for _, a := range addrs {
		ip := a.Addr().Unmap()
		if ip.Is4() {
			b4 = append(b4, ip.AsSlice()...)
			b4 = binary.BigEndian.AppendUint16(b4, a.Port())
		} else {
			b6 = append(b6, ip.AsSlice()...)
			b6 = binary.BigEndian.AppendUint16(b6, a.Port())
		}
	}
	return string(b4), string(b6)
}

// ParseCompactPeers decodes a compact peer list whose addresses are
// ipLen (4 or 16) bytes long.
func ParseCompactPeers(s string, ipLen int) ([]netip.AddrPort, error) {
	n := ipLen + 2
	if len(s)%n != 0 {
		return nil, fmt.Errorf("%w: compact peer list of %d bytes", ErrMalformed, len(s))
	}
	out := make([]netip.AddrPort, 0, len(s)/n)
	for i := 0; i < len(s); i += n {
		ip, _ := netip.AddrFromSlice([]byte(s[i : i+ipLen]))
		out = append(out, netip.AddrPortFrom(ip, binary.BigEndian.Uint16([]byte(s[i+ipLen:i+n]))))
	}
	return out, nil
}
