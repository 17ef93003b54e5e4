package utp

import (
	"bytes"
	"testing"
)

func FuzzParse(f *testing.F) {
	h := header{typ: stState, connID: 7, timestamp: 1, tsDiff: 2, wnd: 3, seq: 4, ack: 5}
	f.Add(h.append(nil))
	h.nSACK = 4
	h.sack[0] = 0x05
	f.Add(h.append(nil))
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
	f.Add([]byte{0x41, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		payload, err := h.parse(b)
		if !isUTP(b) && err == nil {
			t.Fatalf("parse accepted %x, which isUTP rejects", b)
		}
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == 'd' {
			t.Fatalf("a KRPC message (first byte 'd') parsed as uTP")
		}
		// A parsed header re-encodes to a packet that parses the same.
		enc := append(h.append(nil), payload...)
		var h2 header
		p2, err := h2.parse(enc)
		if err != nil {
			t.Fatalf("re-encoded %x does not parse: %v", enc, err)
		}
		if h2 != h || !bytes.Equal(p2, payload) {
			t.Fatalf("round trip changed the packet: %+v -> %+v", h, h2)
		}
	})
}
