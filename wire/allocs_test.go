package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/torfs/torfs/internal/allocbound"
)

// Bounds on what decoding n bytes from a peer may allocate; each is
// checked by a fuzz target below, and TestAllocsWorstCase logs the worst
// ratio measured for the hostile shapes it builds.
var (
	// streamLimit bounds a Decoder reading a stream of n bytes with the
	// default message limit. Its payload buffer starts at 4 KiB and
	// doubles when full, before the next byte arrives: after c bytes
	// its growths sum to at most 4c, so 4n in all; the constant adds
	// the 4 KiB read buffer and the first 4 KiB. Measured: 4.00 bytes
	// per byte for a 1 MiB claim cut off after 64 KiB, 2.00 for a whole
	// 1 MiB bitfield, 8 KiB for a 1 MiB claim with 3 bytes behind it.
	streamLimit = allocbound.Limit{PerByte: 4, Const: 12 << 10}
	// payloadLimit bounds each extension payload decoder (extended
	// handshake, ut_metadata, ut_pex with its compact peers). They go
	// through bencbound, whose worst case is 107 bytes per byte (a list
	// of empty dictionaries decoded into structs); the constant is the
	// codec's read buffer and fixed costs. Measured: 64 bytes per byte
	// (a list of empty dictionaries where a string or a map belongs).
	payloadLimit = allocbound.Limit{PerByte: 128, Const: 16 << 10}
	// handshakeLimit: parsing a handshake allocates nothing; the
	// constant is room for the runtime's own allocations meanwhile.
	handshakeLimit = allocbound.Limit{Const: 1 << 10}
)

// claim returns a length prefix and message id claiming a payload of n
// bytes, followed by the first have bytes of it.
func claim(n uint32, id ID, have int) []byte {
	b := binary.BigEndian.AppendUint32(nil, n+1)
	b = append(b, byte(id))
	return append(b, bytes.Repeat([]byte{0xa5}, have)...)
}

// streamBombs are streams whose length prefixes claim far more than they
// carry, or more than the limit.
var streamBombs = [][]byte{
	claim(DefaultMaxMessage-1, Bitfield, 3),
	claim(DefaultMaxMessage-1, Bitfield, 4097),
	claim(DefaultMaxMessage-1, Extended, 1),
	claim(DefaultMaxMessage-1, ID(99), 0),
	claim(MaxBlockSize+8, Piece, 8),
	claim(1<<32-2, Bitfield, 3),
	claim(DefaultMaxMessage, Bitfield, 3),
	append(claim(7, Bitfield, 7), claim(DefaultMaxMessage-1, Bitfield, 100)...),
	bytes.Repeat([]byte{0, 0, 0, 0}, 100), // keep-alives
	bytes.Repeat(AppendSimple(nil, Unchoke), 100),
}

// decodeStream decodes messages until the stream ends or breaks.
func decodeStream(in []byte) {
	d := NewDecoder(bytes.NewReader(in), 0)
	var m Message
	for d.Decode(&m) == nil {
	}
}

// FuzzDecodeAllocs checks that a stream of n bytes never makes a Decoder
// allocate more than streamLimit allows, whatever its length prefixes
// claim.
func FuzzDecodeAllocs(f *testing.F) {
	f.Add(AppendPiece(nil, 1, 2, []byte("hello")))
	f.Add(AppendBitfield(AppendKeepAlive(nil), []byte{0xf0}))
	f.Add(AppendExtended(nil, 0, []byte("d1:md6:ut_pexi1eee")))
	for _, b := range streamBombs {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		allocbound.Check(t, streamLimit, "decoding a message stream", in, func() { decodeStream(in) })
	})
}

// payloadSteps are the decoders of an extension payload, run over in as
// a connection would for each message kind.
func payloadSteps(in []byte) []allocbound.Step {
	return []allocbound.Step{
		{What: "parsing an extended handshake", F: func() { ParseExtendedHandshake(in) }},
		{What: "parsing a ut_metadata message", F: func() { ParseMetadata(in) }},
		{What: "parsing a ut_pex message", F: func() {
			if p, err := ParsePEX(in); err == nil {
				ParseCompactPeers(p.Added, 4)
				ParseCompactPeers(p.Added6, 16)
				ParseCompactPeers(p.Dropped, 4)
				ParseCompactPeers(p.Dropped6, 16)
			}
		}},
	}
}

// checkPayloads checks a handshake and each extension payload decoder
// over in against its limit, and returns the most one of them allocated.
func checkPayloads(t testing.TB, in []byte) uint64 {
	worst := allocbound.Check(t, handshakeLimit, "parsing a handshake", in, func() { ParseHandshake(in) })
	for _, s := range payloadSteps(in) {
		worst = max(worst, allocbound.Check(t, payloadLimit, s.What, in, s.F))
	}
	return worst
}

// payloadBombs are extension payloads built to cost the decoders most:
// huge claims, deep nesting, huge counts, in up to about n bytes each.
func payloadBombs(n int) []string {
	return []string{
		"d1:m" + strings.Repeat("d", 40) + strings.Repeat("e", 40) + "e",
		"d1:md" + strings.Repeat("1:ai1e", n/6) + "ee",
		"d1:ml" + strings.Repeat("de", n/2) + "ee",
		"d5:addedl" + strings.Repeat("de", n/2) + "ee",
		"d5:added" + strconv.Itoa(n/6*6) + ":" + strings.Repeat("\x7f\x00\x00\x01\x1a\xe1", n/6) + "e",
		"d6:added6" + strconv.Itoa(n/18*18) + ":" + strings.Repeat("\x00", n/18*18) + "e",
		"d8:msg_typei1e5:piecei0e10:total_sizei99999999999eee",
		"d8:msg_typei1e5:piecei99999999999999999999ee",
		"d" + strings.Repeat("1:ade", n/5) + "e",
	}
}

// FuzzPayloadAllocs checks that no extension payload or handshake makes
// its decoder allocate more than payloadLimit allows.
func FuzzPayloadAllocs(f *testing.F) {
	f.Add(AppendHandshake(nil, Handshake{}))
	f.Add([]byte("d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e1:pi6881e4:reqqi500e1:v5:torfse"))
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei5eeabcde"))
	f.Add([]byte("d5:added6:\x01\x02\x03\x04\x1a\xe1e"))
	for _, b := range bencodeBombs {
		f.Add([]byte(b))
	}
	for _, b := range payloadBombs(300) {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// One measurement for all: see allocbound.CheckEach. A handshake
		// is parsed with them, and TestAllocsWorstCase checks that it
		// allocates nothing.
		allocbound.CheckEach(t, payloadLimit, in, append(payloadSteps(in), allocbound.Step{What: "parsing a handshake", F: func() { ParseHandshake(in) }})...)
	})
}

// TestAllocsWorstCase runs the hostile inputs of both fuzz targets, and
// larger ones whose cost per byte the constants do not hide, and logs the
// worst ratio measured on the large ones against the limits.
func TestAllocsWorstCase(t *testing.T) {
	big := [][]byte{
		claim(DefaultMaxMessage-1, Bitfield, 1<<16),
		claim(DefaultMaxMessage-1, Bitfield, DefaultMaxMessage-1),
		claim(MaxBlockSize+8, Piece, MaxBlockSize+8),
		bytes.Repeat(AppendBitfield(nil, make([]byte, 1000)), 100),
	}
	for i := 4096; i <= 1<<16; i *= 2 { // messages growing one after another
		big = append(big, claim(uint32(i), Bitfield, i))
	}
	worst := 0.0
	for _, in := range append(streamBombs, big...) {
		got := allocbound.Check(t, streamLimit, "decoding a message stream", in, func() { decodeStream(in) })
		if len(in) >= 1<<16 {
			worst = max(worst, allocbound.Ratio(got, len(in)))
		}
	}
	t.Logf("stream: worst %.2f bytes per input byte (limit %d)", worst, streamLimit.PerByte)
	worst = 0
	for _, s := range append(payloadBombs(10000), bencodeBombs...) {
		in := []byte(s)
		got := checkPayloads(t, in)
		if len(in) >= 5000 {
			worst = max(worst, allocbound.Ratio(got, len(in)))
		}
	}
	t.Logf("payloads: worst %.2f bytes per input byte (limit %d)", worst, payloadLimit.PerByte)
}

// TestDecoderGrowsAsBytesArrive checks the payload buffer's growth: large
// messages that arrive a few bytes at a time decode whole and intact, one
// after another, and one cut short is an unexpected EOF.
func TestDecoderGrowsAsBytesArrive(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, n := range []int{100, 70000, 5000, 300000, 4096, 4097} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + n)
		}
		want = append(want, p)
		stream = AppendBitfield(stream, p)
	}
	d := NewDecoder(iotest.HalfReader(bytes.NewReader(stream)), 0)
	for i, p := range want {
		var m Message
		if err := d.Decode(&m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.ID != Bitfield || !bytes.Equal(m.Payload, p) {
			t.Fatalf("message %d: got %v with %d bytes, want a bitfield of %d", i, m.ID, len(m.Payload), len(p))
		}
	}
	var m Message
	if err := d.Decode(&m); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
	cut := AppendBitfield(nil, make([]byte, 20000))[:12000]
	if err := NewDecoder(bytes.NewReader(cut), 0).Decode(&m); err != io.ErrUnexpectedEOF {
		t.Fatalf("a message cut short: %v, want io.ErrUnexpectedEOF", err)
	}
}
