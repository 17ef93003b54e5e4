package wire

import (
	"bytes"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(AppendPiece(nil, 1, 2, []byte("hello")))
	f.Add(AppendRequest(AppendSimple(nil, Unchoke), Request, 1, 2, 3))
	f.Add(AppendBitfield(AppendKeepAlive(nil), []byte{0xf0}))
	f.Add(AppendExtended(nil, 0, []byte("d1:md6:ut_pexi1eee")))
	f.Add([]byte{0, 0, 0, 1, 200})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), 0)
		d.MaxLength = 1 << 16
		var m Message
		for range 64 {
			if err := d.Decode(&m); err != nil {
				return
			}
			// Re-encoding a decoded message must decode to the same one.
			var b []byte
			switch m.ID {
			case Request, Cancel, Reject:
				b = AppendRequest(nil, m.ID, m.Index, m.Begin, m.Length)
			case Piece:
				b = AppendPiece(nil, m.Index, m.Begin, m.Block)
			case Have, Suggest, AllowedFast:
				b = AppendIndex(nil, m.ID, m.Index)
			default:
				continue
			}
			var m2 Message
			if err := NewDecoder(bytes.NewReader(b), 0).Decode(&m2); err != nil {
				t.Fatalf("re-decoding %v: %v", &m, err)
			}
			if m2.ID != m.ID || m2.Index != m.Index || m2.Begin != m.Begin || m2.Length != m.Length || !bytes.Equal(m2.Block, m.Block) {
				t.Fatalf("%v became %v", &m, &m2)
			}
		}
	})
}

func FuzzExtendedHandshake(f *testing.F) {
	f.Add([]byte("d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e1:pi6881e4:reqqi500e1:v5:torfse"))
	f.Add([]byte("d1:mdee"))
	f.Add([]byte("d6:yourip4:\x7f\x00\x00\x01e"))
	f.Add([]byte("d1:mi3ee"))
	for _, b := range bencodeBombs {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseExtendedHandshake(in)
		if err != nil {
			return
		}
		b, err := h.Encode()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", h, err)
		}
		if _, err := ParseExtendedHandshake(b); err != nil {
			t.Fatalf("re-parsing %q: %v", b, err)
		}
	})
}

func FuzzMetadataPEX(f *testing.F) {
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei5eeabcde"))
	f.Add([]byte("d5:added6:\x01\x02\x03\x04\x1a\xe1e"))
	for _, b := range bencodeBombs {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ParseMetadata(in)
		if p, err := ParsePEX(in); err == nil {
			ParseCompactPeers(p.Added, 4)
			ParseCompactPeers(p.Added6, 16)
		}
	})
}

// FuzzHashMessages decodes BEP 52 hash requests, hashes and hash rejects:
// every one decoded re-encodes to the same message.
func FuzzHashMessages(f *testing.F) {
	h := HashRange{BaseLayer: 2, Index: 0, Length: 4, ProofLayers: 3}
	h.Root[0] = 1
	f.Add(AppendHashRequest(nil, HashRequest, h))
	f.Add(AppendHashes(AppendHashRequest(nil, HashReject, h), h, make([]byte, 5*HashSize)))
	f.Add([]byte{0, 0, 0, 33, byte(Hashes)})
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in), 0)
		d.MaxLength = 1 << 16
		var m Message
		for range 16 {
			if err := d.Decode(&m); err != nil {
				return
			}
			var b []byte
			switch m.ID {
			case HashRequest, HashReject:
				b = AppendHashRequest(nil, m.ID, m.Hash)
			case Hashes:
				if len(m.Payload)%HashSize != 0 {
					t.Fatalf("hashes message with %d hash bytes decoded", len(m.Payload))
				}
				b = AppendHashes(nil, m.Hash, m.Payload)
			default:
				continue
			}
			var m2 Message
			if err := NewDecoder(bytes.NewReader(b), 0).Decode(&m2); err != nil {
				t.Fatalf("re-decoding %v: %v", &m, err)
			}
			if m2.ID != m.ID || m2.Hash != m.Hash || !bytes.Equal(m2.Payload, m.Payload) {
				t.Fatalf("%v became %v", &m, &m2)
			}
		}
	})
}
