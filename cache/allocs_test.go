package cache

import (
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

// stateLimit bounds what decoding an n-byte state file allocates:
// encoding/json keeps a scanner stack as deep as the nesting and makes a
// record per "files" entry, in a slice that doubles, and a type error
// per entry of the wrong type. Measured worst (TestStateAllocsWorstCase):
// 80 bytes per byte, for a "files" list of numbers.
var stateLimit = allocbound.Limit{PerByte: 128, Const: 4 << 10}

// hostileStates nest deep, carry huge counts and huge numbers.
func hostileStates(n int) []string {
	return []string{
		`{"version":1,"files":[` + strings.Repeat("{},", n/3) + `{}]}`,
		`{"version":1,"files":[` + strings.Repeat(`{"size":1,"mtime":1},`, n/21) + `{}]}`,
		`{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
		`{"x":` + strings.Repeat(`{"a":`, n/5) + "1" + strings.Repeat("}", n/5) + `}`,
		`{"verified":"` + strings.Repeat("A", n) + `"}`,
		`{"torrent":"` + strings.Repeat(`\u0041`, n/6) + `"}`,
		`{"version":1` + strings.Repeat(`,"version":1`, n/12) + `}`,
		`{"files":[` + strings.Repeat("1,", n/2) + `1]}`,
		`{"files":[` + strings.Repeat("[],", n/3) + `1]}`,
		`{"files":[` + strings.Repeat(`"",`, n/3) + `1]}`,
		`{"files":[` + strings.Repeat(`{"size":""},`, n/12) + `1]}`,
		`{"files":[` + strings.Repeat(`{"x":1},`, n/8) + `1]}`,
		`{"files":1` + strings.Repeat(`,"files":1`, n/10) + `}`,
		`{"verified":[` + strings.Repeat("1,", n/2) + `1]}`,
		`{"verified":[` + strings.Repeat(`"",`, n/3) + `1]}`,
		`{"version":` + strings.Repeat("9", n) + `}`,
		`{"torrent":"` + strings.Repeat("a", n),
	}
}

// FuzzParseStateAllocs checks that no state file makes parseState
// allocate more than stateLimit allows.
func FuzzParseStateAllocs(f *testing.F) {
	f.Add([]byte(`{"version":1,"torrent":"abc","clean":true,"verified":"//8=","files":[]}`))
	for _, s := range hostileStates(300) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		allocbound.Check(t, stateLimit, "decoding a state file", data, func() { parseState(data, "abc", 11, 3) })
	})
}

// TestStateAllocsWorstCase runs hostile state files large enough that
// the constant does not hide the multiple, and logs the worst ratio.
func TestStateAllocsWorstCase(t *testing.T) {
	worst := 0.0
	for _, s := range hostileStates(30000) {
		b := []byte(s)
		got := allocbound.Check(t, stateLimit, "decoding a state file", b, func() { parseState(b, "abc", 11, 3) })
		worst = max(worst, allocbound.Ratio(got, len(b)))
	}
	t.Logf("worst: %.2f bytes per input byte (limit %d)", worst, stateLimit.PerByte)
}
