package utp

import "testing"

// TestParseSACKAnyLength: libtorrent sends selective acks as long as its
// reorder buffer spans, not a multiple of 4 bytes (seen: 22). Such a
// packet must still be read, cumulative ack and bits alike.
func TestParseSACKAnyLength(t *testing.T) {
	for _, n := range []int{1, 3, 22, 100, maxSACKBytes, 200, 255} {
		h := header{typ: stState, connID: 9, seq: 5, ack: 700}
		b := h.append(nil)
		b[1] = extSACK
		b = append(b, 0, byte(n))
		for i := range n {
			b = append(b, byte(i+1))
		}
		var got header
		payload, err := got.parse(b)
		if err != nil {
			t.Fatalf("%d-byte SACK: %v", n, err)
		}
		if len(payload) != 0 || got.ack != 700 || got.typ != stState {
			t.Fatalf("%d-byte SACK: parsed %+v with %d payload bytes", n, got, len(payload))
		}
		if want := min(n, maxSACKBytes); got.nSACK != want || got.sack[want-1] != byte(want) {
			t.Fatalf("%d-byte SACK: kept %d bytes ending %d, want %d", n, got.nSACK, got.sack[max(got.nSACK-1, 0)], want)
		}
	}
}
