package dht

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// NodeInfo is a DHT node: its ID and its UDP address.
type NodeInfo struct {
	ID   ID
	Addr netip.AddrPort
}

// Compact sizes (BEP 5, BEP 32): a peer is its IP and port, a node is its
// ID followed by a peer.
const (
	compactPeer4 = 4 + 2
	compactPeer6 = 16 + 2
	compactNode4 = 20 + compactPeer4
	compactNode6 = 20 + compactPeer6
)

func appendCompactPeer(b []byte, ap netip.AddrPort) []byte {
	b = append(b, ap.Addr().Unmap().AsSlice()...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// parseCompactPeer reads a 6-byte (IPv4) or 18-byte (IPv6) peer.
func parseCompactPeer(b []byte) (netip.AddrPort, error) {
	if len(b) != compactPeer4 && len(b) != compactPeer6 {
		return netip.AddrPort{}, fmt.Errorf("compact peer of %d bytes: want %d or %d", len(b), compactPeer4, compactPeer6)
	}
	ip, _ := netip.AddrFromSlice(b[:len(b)-2])
	return netip.AddrPortFrom(ip.Unmap(), binary.BigEndian.Uint16(b[len(b)-2:])), nil
}

func appendCompactNode(b []byte, n NodeInfo) []byte {
	b = append(b, n.ID[:]...)
	return appendCompactPeer(b, n.Addr)
}

// parseCompactNodes reads a "nodes" (v6 false) or "nodes6" (v6 true)
// string: a whole number of compact nodes of one family.
func parseCompactNodes(s string, v6 bool) ([]NodeInfo, error) {
	size := compactNode4
	if v6 {
		size = compactNode6
	}
	if len(s)%size != 0 {
		return nil, fmt.Errorf("compact nodes of %d bytes: not a multiple of %d", len(s), size)
	}
	out := make([]NodeInfo, 0, len(s)/size)
	for i := 0; i < len(s); i += size {
		var n NodeInfo
		copy(n.ID[:], s[i:i+20])
		ap, err := parseCompactPeer([]byte(s[i+20 : i+size]))
		if err != nil {
			return nil, err
		}
		n.Addr = ap
		out = append(out, n)
	}
	return out, nil
}

// usable reports whether ap can be a node or peer at all: a real unicast
// address and a port other than 0.
func usable(ap netip.AddrPort) bool {
	a := ap.Addr()
	return ap.Port() != 0 && a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}
