package utp

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestByteRingIsAFIFO checks byteRing against a plain slice through
// random writes, peeks at offsets, discards and reads that wrap around
// and grow the ring.
func TestByteRingIsAFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r byteRing
	var want []byte
	next := byte(0)
	for i := range 20000 {
		switch rng.IntN(4) {
		case 0, 1:
			b := make([]byte, rng.IntN(3*minRing))
			for j := range b {
				b[j] = next
				next++
			}
			r.write(b)
			want = append(want, b...)
		case 2:
			off := rng.IntN(len(want) + 1)
			dst := make([]byte, rng.IntN(2*minRing))
			n := r.peek(dst, off)
			if m := min(len(dst), len(want)-off); n != m || !bytes.Equal(dst[:n], want[off:off+n]) {
				t.Fatalf("step %d: peek of %d bytes at %d of %d gave %d bytes, not the ones written", i, len(dst), off, len(want), n)
			}
		case 3:
			dst := make([]byte, rng.IntN(4*minRing))
			n := r.read(dst)
			if m := min(len(dst), len(want)); n != m || !bytes.Equal(dst[:n], want[:n]) {
				t.Fatalf("step %d: read of %d bytes from %d gave %d bytes, not the first ones written", i, len(dst), len(want), n)
			}
			want = want[n:]
		}
		if r.len() != len(want) {
			t.Fatalf("step %d: ring holds %d bytes, want %d", i, r.len(), len(want))
		}
	}
	if len(r.buf)&(len(r.buf)-1) != 0 || len(r.buf) < r.len() {
		t.Fatalf("storage of %d bytes for %d held: want a power of two that fits", len(r.buf), r.len())
	}
}
