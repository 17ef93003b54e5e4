// Package allocbound checks, in tests, that a decoder of untrusted bytes
// allocates at most a small multiple of its input's size plus a constant,
// whatever the input claims: the proof that a peer, tracker or file cannot
// make torfs allocate far more than it sent.
//
// It measures runtime.MemStats.TotalAlloc around a call, which counts every
// goroutine's allocations: a test measures where nothing else runs (no live
// node or server goroutines), or leaves room for them in the constant.
package allocbound

import (
	"runtime"
	"testing"
)

// Bytes returns how many bytes of heap f allocated.
func Bytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A Limit bounds what decoding n bytes may allocate: PerByte*n + Const.
type Limit struct {
	PerByte int
	Const   int
}

// Of returns the number of bytes the limit allows for n input bytes.
func (l Limit) Of(n int) uint64 {
	return uint64(l.PerByte)*uint64(n) + uint64(l.Const)
}

// Check runs f, which decodes input, and fails t when it allocated more
// than l allows for len(input) bytes. It returns what f allocated, for
// tests that report the worst case they measured.
//
// Another goroutine allocating meanwhile (the runtime's, the test
// framework's) would count against f, so a run over the limit is repeated
// and the least of three runs counts: f must allocate the same each time,
// as a decoder given the same bytes does when f starts it from scratch
// (a value decoded into again may reuse what the first run allocated).
func Check[T ~string | ~[]byte](t testing.TB, l Limit, what string, input T, f func()) uint64 {
	t.Helper()
	limit := l.Of(len(input))
	got := Bytes(f)
	for i := 0; i < 2 && got > limit; i++ {
		got = min(got, Bytes(f))
	}
	if got > limit {
		t.Fatalf("%s of %d bytes allocated %d bytes (limit %d = %d*%d+%d): %.120q",
			what, len(input), got, limit, l.PerByte, len(input), l.Const, input)
	}
	return got
}

// A Step is one decoder run over an input, for CheckEach.
type Step struct {
	What string // what it does, for the failure message
	F    func()
}

// CheckEach checks each step against l as Check does, but cheaper: a
// measurement stops the world, so the steps are first measured together,
// and when they allocated no more than l allows one of them, each of them
// did too. Only otherwise is each measured on its own. It returns what
// the steps allocated together, an upper bound on each.
func CheckEach[T ~string | ~[]byte](t testing.TB, l Limit, input T, steps ...Step) uint64 {
	t.Helper()
	all := Bytes(func() {
		for _, s := range steps {
			s.F()
		}
	})
	if all <= l.Of(len(input)) {
		return all
	}
	for _, s := range steps {
		Check(t, l, s.What, input, s.F)
	}
	return all
}

// Ratio is what a measurement cost per input byte, for logging the worst
// case a test constructed against the limit it documents.
func Ratio(allocated uint64, n int) float64 {
	return float64(allocated) / float64(max(n, 1))
}
