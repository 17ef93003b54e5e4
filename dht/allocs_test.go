package dht

import (
	"strconv"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

// packetLimit bounds what decoding a KRPC packet or a state file of n
// bytes allocates, compact node and peer lists included. The decoding
// goes through bencbound (at most 107 bytes per byte for what torfs
// decodes); its constant covers the codec's read buffer and fixed costs.
// A compact node of 26 bytes becomes a 56-byte NodeInfo, a 6-byte peer
// value a 32-byte AddrPort. Measured worst (TestAllocsWorstCase): 72
// bytes per byte, for an error reply's list of empty dictionaries
// (decoded into []any, a map each).
var packetLimit = allocbound.Limit{PerByte: 128, Const: 16 << 10}

// decodeAll decodes a packet as the node does, and its compact lists as
// a lookup does.
func decodeAll(dec *decoder, b []byte) {
	m, err := dec.decode(b)
	if err != nil {
		return
	}
	if m.E != nil {
		decodeError(m.E)
	}
	if m.R != nil {
		parseCompactNodes(m.R.Nodes, false)
		parseCompactNodes(m.R.Nodes6, true)
		for _, v := range m.R.Values {
			parseCompactPeer([]byte(v))
		}
	}
}

// hostilePackets claim far more than they hold, nest deep, or carry
// huge counts, in up to about n bytes each.
func hostilePackets(n int) []string {
	return []string{
		"d1:t2000000000:aa1:y1:qe",
		"d2000010000:",
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:x" + strings.Repeat("l", 30) + strings.Repeat("e", 30) + "e",
		"d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("6:\x7f\x00\x00\x01\x1a\xe1", n/8) + "ee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("0:", n/2) + "ee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567895:nodes" + strconv.Itoa(n/26*26) + ":" + strings.Repeat("a", n/26*26) + "e1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij01234567894:wantl" + strings.Repeat("0:", n/2) + "ee1:q9:find_node1:t2:aa1:y1:qe",
		"d1:el" + strings.Repeat("le", n/2) + "e1:t2:aa1:y1:ee",
		"d1:ad" + strings.Repeat("1:xde", n/5) + "e1:q4:ping1:t2:aa1:y1:qe",
	}
}

// FuzzKRPCAllocs checks that no packet makes decoding allocate more
// than packetLimit allows.
func FuzzKRPCAllocs(f *testing.F) {
	for _, p := range append(validPackets, hostilePackets(300)...) {
		f.Add([]byte(p))
	}
	dec := newDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		allocbound.Check(t, packetLimit, "decoding a KRPC packet", b, func() { decodeAll(dec, b) })
	})
}

// FuzzStateAllocs checks the state file decoder against packetLimit.
func FuzzStateAllocs(f *testing.F) {
	f.Add([]byte("d2:id20:" + id20 + "5:nodes26:" + id20 + "\x7f\x00\x00\x01\x1a\xe16:nodes60:e"))
	f.Add([]byte("d2:id20:" + id20 + "5:nodes2000000000:e"))
	f.Add([]byte("d2:id20:" + id20 + "5:nodes26000:" + strings.Repeat("a", 26000) + "e"))
	f.Add([]byte("d2:id" + strings.Repeat("l", 30) + strings.Repeat("e", 30) + "e"))
	f.Add([]byte("d" + strings.Repeat("1:xle", 2000) + "e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		allocbound.Check(t, packetLimit, "decoding a DHT state file", b, func() { parseState(b) })
	})
}

// TestAllocsWorstCase runs the hostile packets, and larger ones whose
// cost per byte the constant does not hide, and logs the worst ratio.
func TestAllocsWorstCase(t *testing.T) {
	const n = 10000
	big := []string{
		"d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("0:", n) + "ee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("6:\x7f\x00\x00\x01\x1a\xe1", n) + "ee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567895:nodes260000:" + strings.Repeat("a", 26*n) + "e1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij01234567894:wantl" + strings.Repeat("0:", n) + "ee1:q9:find_node1:t2:aa1:y1:qe",
		"d1:el" + strings.Repeat("de", n) + "e1:t2:aa1:y1:ee",
		"d1:el" + strings.Repeat("0:", n) + "e1:t2:aa1:y1:ee",
		"d1:rd2:id20:abcdefghij01234567896:valuesl" + strings.Repeat("de", n) + "ee1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij01234567894:wantl" + strings.Repeat("de", n) + "ee1:q9:find_node1:t2:aa1:y1:qe",
	}
	dec := newDecoder()
	worst := 0.0
	for _, s := range append(hostilePackets(n), big...) {
		b := []byte(s)
		got := allocbound.Check(t, packetLimit, "decoding a KRPC packet", b, func() { decodeAll(dec, b) })
		if len(b) >= n {
			worst = max(worst, allocbound.Ratio(got, len(b)))
		}
	}
	state := []byte("d2:id20:" + id20 + "5:nodes260000:" + strings.Repeat("a", 26*n) + "6:nodes6380000:" + strings.Repeat("a", 38*n) + "e")
	got := allocbound.Check(t, packetLimit, "decoding a DHT state file", state, func() { parseState(state) })
	worst = max(worst, allocbound.Ratio(got, len(state)))
	t.Logf("worst: %.2f bytes per input byte (limit %d)", worst, packetLimit.PerByte)
}
