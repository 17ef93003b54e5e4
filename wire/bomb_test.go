package wire

import (
	"errors"
	"runtime"
	"testing"
)

// bencodeBombs claim strings far larger than the message that carries
// them; the codec used to allocate what they claim.
var bencodeBombs = []string{
	"d1:v2000000000:abce", // a 2 GB client name in an extended handshake
	"d2000010000:",        // a 2 GB key
	"d5:added2147483647:\x01\x02\x03\x04\x1a\xe1e",
	"d8:msg_typei1e5:piecei0e10:total_size1999999999:e",
	"d1:md11:ut_metadata2000000000:e",
}

// TestBencodeBombRefused checks that payloads claiming 2 GB strings are
// refused as malformed without the heap growing by more than a few MB.
func TestBencodeBombRefused(t *testing.T) {
	const budget = 4 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, in := range bencodeBombs {
		b := []byte(in)
		if _, err := ParseExtendedHandshake(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("extended handshake %q: err = %v, want ErrMalformed", in, err)
		}
		if _, err := ParsePEX(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ut_pex %q: err = %v, want ErrMalformed", in, err)
		}
		if _, _, err := ParseMetadata(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("ut_metadata %q: err = %v, want ErrMalformed", in, err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > budget {
		t.Errorf("refusing %d bombs allocated %d bytes; want at most %d", len(bencodeBombs), got, budget)
	}
	if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > budget {
		t.Errorf("the heap grew by %d bytes; want at most %d", after.HeapAlloc-before.HeapAlloc, budget)
	}
}
