package wire

import (
	"bytes"
	"errors"
	"testing"
)

func testRange() HashRange {
	h := HashRange{BaseLayer: 2, Index: 512, Length: 512, ProofLayers: 11}
	for i := range h.Root {
		h.Root[i] = byte(i + 1)
	}
	return h
}

func TestHashMessagesRoundTrip(t *testing.T) {
	h := testRange()
	hashes := bytes.Repeat([]byte{0xab}, 3*HashSize)
	var b []byte
	b = AppendHashRequest(b, HashRequest, h)
	b = AppendHashes(b, h, hashes)
	b = AppendHashRequest(b, HashReject, h)
	b = AppendHashes(b, h, nil)
	if len(b) != 4*(4+1+HashRangeLen)+len(hashes) {
		t.Fatalf("encoded %d bytes", len(b))
	}
	d := NewDecoder(bytes.NewReader(b), 0)
	for i, want := range []struct {
		id     ID
		hashes []byte
	}{{HashRequest, nil}, {Hashes, hashes}, {HashReject, nil}, {Hashes, nil}} {
		var m Message
		if err := d.Decode(&m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.ID != want.id || m.Hash != h || !bytes.Equal(m.Payload, want.hashes) {
			t.Fatalf("message %d: got %v %+v with %d hash bytes, want %v %+v with %d", i, m.ID, m.Hash, len(m.Payload), want.id, h, len(want.hashes))
		}
		if m.String() == "unknown" || m.ID.String() == "unknown" {
			t.Fatalf("message %d has no name", i)
		}
	}
}

// A hash request or reject of any other length, and a hashes message
// shorter than its header or holding a partial hash, are malformed.
func TestHashMessagesBounds(t *testing.T) {
	h := testRange()
	req := AppendHashRequest(nil, HashRequest, h)
	bad := map[string][]byte{
		"request one byte short": withLength(req[:len(req)-1], HashRangeLen),
		"request one byte long":  withLength(append(req[:len(req):len(req)], 0), 2+HashRangeLen),
		"reject one byte short":  withLength(AppendHashRequest(nil, HashReject, h)[:len(req)-1], HashRangeLen),
		"hashes without header":  withLength(append([]byte{0, 0, 0, 0, byte(Hashes)}, make([]byte, 20)...), 21),
		"hashes with half hash":  AppendHashes(nil, h, make([]byte, HashSize/2)),
	}
	for name, b := range bad {
		var m Message
		if err := NewDecoder(bytes.NewReader(b), 0).Decode(&m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	// A hashes message is bounded by the decoder's limit like any other.
	d := NewDecoder(bytes.NewReader(AppendHashes(nil, h, make([]byte, 64*HashSize))), 0)
	d.MaxLength = 1 << 10
	var m Message
	if err := d.Decode(&m); !errors.Is(err, ErrTooLong) {
		t.Fatalf("2 KiB of hashes under a 1 KiB limit: err = %v, want ErrTooLong", err)
	}
}

// withLength rewrites b's length prefix to n.
func withLength(b []byte, n uint32) []byte {
	b = append([]byte(nil), b...)
	b[0], b[1], b[2], b[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return b
}

func TestReservedV2(t *testing.T) {
	var r Reserved
	r.SetV2(true)
	if !r.V2() || r[7] != 0x10 {
		t.Fatalf("reserved %x, want the BEP 52 bit 0x10 in byte 7", r)
	}
	r.SetV2(false)
	if r.V2() {
		t.Fatal("SetV2(false) left the bit set")
	}
}
