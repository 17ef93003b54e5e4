package bencbound

import (
	"fmt"
	"math"
)

// maxIntDigits is the most digits an integer may have: int64 has 19.
const maxIntDigits = 19

// MaxDepth is the deepest nesting any caller may allow; larger limits
// are lowered to it. libtorrent's decoder stops at 100.
const MaxDepth = 256

// Dict walks the bencoded dictionary at the start of data and returns its
// length in bytes; what follows it is not looked at. Nesting deeper than
// maxDepth levels (the dictionary itself being level 1) is an error.
func Dict(data []byte, maxDepth int) (int, error) {
	if len(data) == 0 || data[0] != 'd' {
		return 0, ErrNotDict
	}
	return walk(data, maxDepth)
}

// Exact is Dict for input that must hold the dictionary and nothing else.
func Exact(data []byte, maxDepth int) error {
	n, err := Dict(data, maxDepth)
	if err == nil && n != len(data) {
		err = fmt.Errorf("%w: %d bytes of garbage after the dictionary", ErrMalformed, len(data)-n)
	}
	return err
}

// What each open container expects next.
const (
	inList    = iota
	dictKey   // a string key, or the end
	dictValue // the value of the key just read
)

// walk checks the bencoded value at the start of data, of any type, and
// returns its length in bytes. It allocates nothing and never recurses:
// every string must fit in the bytes that follow its length, nesting
// stays within maxDepth, integers fit in an int64, and every dictionary
// key is a string followed by a value. What it accepts, the codec decodes
// into an empty interface without error.
func walk(data []byte, maxDepth int) (int, error) {
	maxDepth = min(maxDepth, MaxDepth)
	var open [MaxDepth]byte // open[k] is what the container at depth k+1 expects
	depth, i := 0, 0
	for {
		if i >= len(data) {
			if i == 0 {
				return 0, fmt.Errorf("%w: empty input", ErrMalformed)
			}
			return 0, fmt.Errorf("%w: truncated: a dictionary or list is not closed", ErrMalformed)
		}
		c := data[i]
		expect := byte(inList)
		if depth > 0 {
			expect = open[depth-1]
		}
		switch {
		case c == 'e' && depth > 0 && expect != dictValue:
			depth--
			i++
		case expect == dictKey && (c < '0' || c > '9'):
			return 0, fmt.Errorf("%w: dictionary key at byte %d is not a string", ErrMalformed, i)
		case c == 'd' || c == 'l':
			if depth >= maxDepth {
				return 0, fmt.Errorf("%w: nested deeper than %d levels", ErrMalformed, maxDepth)
			}
			open[depth] = inList
			if c == 'd' {
				open[depth] = dictKey
			}
			depth++
			i++
			continue // the container is not a whole value yet
		case c == 'i':
			j, limit := i+1, uint64(math.MaxInt64)
			if j < len(data) && data[j] == '-' {
				j, limit = j+1, limit+1
			}
			start, n := j, uint64(0)
			for j < len(data) && data[j] >= '0' && data[j] <= '9' && j-start < maxIntDigits {
				n = n*10 + uint64(data[j]-'0') // 19 digits cannot overflow a uint64
				j++
			}
			if j == start || j >= len(data) || data[j] != 'e' || n > limit {
				return 0, fmt.Errorf("%w: malformed integer at byte %d", ErrMalformed, i)
			}
			i = j + 1
		case c >= '0' && c <= '9':
			n, j := 0, i
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				if j-i >= maxIntDigits-1 { // n stays far from overflowing
					return 0, fmt.Errorf("%w: string length too long at byte %d", ErrMalformed, i)
				}
				n = n*10 + int(data[j]-'0')
				j++
			}
			if j >= len(data) || data[j] != ':' {
				return 0, fmt.Errorf("%w: malformed string length at byte %d", ErrMalformed, i)
			}
			j++
			if n > len(data)-j {
				return 0, fmt.Errorf("%w: truncated: a string at byte %d claims %d bytes but only %d remain", ErrMalformed, i, n, len(data)-j)
			}
			i = j + n
		case c == 'e' && expect == dictValue:
			return 0, fmt.Errorf("%w: dictionary key before byte %d has no value", ErrMalformed, i)
		default:
			return 0, fmt.Errorf("%w: unexpected byte %q at offset %d", ErrMalformed, c, i)
		}
		// A whole value ends at i: the enclosing dictionary, if any,
		// now expects the other half of a key-value pair.
		if depth == 0 {
			return i, nil
		}
		switch open[depth-1] {
		case dictKey:
			open[depth-1] = dictValue
		case dictValue:
			open[depth-1] = dictKey
		}
	}
}
