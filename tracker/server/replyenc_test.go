package server

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/bencode"
)

// zeeboCompact encodes r with zeebo's reflective encoder, the reference.
func zeeboCompact(tb testing.TB, r compactReply) []byte {
	tb.Helper()
	b, err := bencode.EncodeBytes(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCompactReplyMatchesZeebo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ints := []int64{0, 1, -1, 9, 10, 1800, 1 << 31, -(1 << 40), 1<<63 - 1, -1 << 63}
	for i := range 2000 {
		r := compactReply{
			Complete:    int(ints[rng.IntN(len(ints))]),
			Incomplete:  rng.IntN(1 << 20),
			Downloaded:  int(ints[rng.IntN(len(ints))]),
			Interval:    ints[rng.IntN(len(ints))],
			MinInterval: rng.Int64N(4000) - 100,
			Peers:       make([]byte, rng.IntN(4)*6*(1+i%50)),
		}
		if i%3 == 0 {
			r.Peers6 = make([]byte, rng.IntN(3)*18)
		}
		if i%7 == 0 {
			r.Peers = nil
		}
		for j := range r.Peers {
			r.Peers[j] = byte(rng.Uint32())
		}
		want := zeeboCompact(t, r)
		if got := r.appendBencode([]byte("x")); !bytes.Equal(got[1:], want) || got[0] != 'x' {
			t.Fatalf("reply %+v:\n got %q\nwant %q", r, got[1:], want)
		}
	}
}

func FuzzCompactReply(f *testing.F) {
	f.Add(int64(3), int64(4), int64(5), int64(1800), int64(900), []byte("abcdef"), []byte{})
	f.Add(int64(-1), int64(0), int64(1<<62), int64(0), int64(-7), []byte{}, bytes.Repeat([]byte{1}, 18))
	f.Fuzz(func(t *testing.T, c, inc, d, iv, miv int64, p4, p6 []byte) {
		r := compactReply{Complete: int(c), Incomplete: int(inc), Downloaded: int(d), Interval: iv, MinInterval: miv, Peers: p4, Peers6: p6}
		if got, want := r.appendBencode(nil), zeeboCompact(t, r); !bytes.Equal(got, want) {
			t.Fatalf("got %q want %q", got, want)
		}
		var back map[string]any
		if err := bencode.DecodeBytes(r.appendBencode(nil), &back); err != nil {
			t.Fatalf("zeebo cannot decode our answer: %v", err)
		}
	})
}
