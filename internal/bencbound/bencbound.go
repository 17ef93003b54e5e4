// Package bencbound checks untrusted bencoded input before it is decoded.
//
// github.com/zeebo/bencode allocates a string's claimed length before it
// reads the string, and recurses once per level of nesting. Dict walks
// the input first, without decoding or allocating: every string length is
// checked against the bytes actually present and nesting is bounded, so
// a decoder that runs afterwards never allocates more than the input's
// size and never recurses deeply.
package bencbound

import (
	"errors"
	"fmt"
)

// ErrNotDict is returned when the input does not start with a dictionary.
var ErrNotDict = errors.New("not a bencoded dictionary")

// maxIntDigits is the most digits an integer may have: int64 has 19.
const maxIntDigits = 19

// Dict walks the bencoded dictionary at the start of data and returns its
// length in bytes; what follows it is not looked at. Nesting deeper than
// maxDepth levels (the dictionary itself being level 1) is an error.
func Dict(data []byte, maxDepth int) (int, error) {
	if len(data) == 0 || data[0] != 'd' {
		return 0, ErrNotDict
	}
	depth, i := 0, 0
	for {
		if i >= len(data) {
			return 0, errors.New("truncated: a dictionary or list is not closed")
		}
		switch c := data[i]; {
		case c == 'd' || c == 'l':
			depth++
			if depth > maxDepth {
				return 0, fmt.Errorf("nested deeper than %d levels", maxDepth)
			}
			i++
			continue
		case c == 'e':
			depth--
			i++
		case c == 'i':
			j := i + 1
			if j < len(data) && data[j] == '-' {
				j++
			}
			start := j
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				j++
			}
			if j == start || j >= len(data) || data[j] != 'e' || j-start > maxIntDigits {
				return 0, fmt.Errorf("malformed integer at byte %d", i)
			}
			i = j + 1
		case c >= '0' && c <= '9':
			n, j := 0, i
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				if j-i >= maxIntDigits-1 { // n stays far from overflowing
					return 0, fmt.Errorf("string length too long at byte %d", i)
				}
				n = n*10 + int(data[j]-'0')
				j++
			}
			if j >= len(data) || data[j] != ':' {
				return 0, fmt.Errorf("malformed string length at byte %d", i)
			}
			j++
			if n > len(data)-j {
				return 0, fmt.Errorf("truncated: a string at byte %d claims %d bytes but only %d remain", i, n, len(data)-j)
			}
			i = j + n
		default:
			return 0, fmt.Errorf("unexpected byte %q at offset %d", c, i)
		}
		if depth == 0 {
			return i, nil
		}
	}
}

// Exact is Dict for input that must hold the dictionary and nothing else.
func Exact(data []byte, maxDepth int) error {
	n, err := Dict(data, maxDepth)
	if err == nil && n != len(data) {
		err = fmt.Errorf("%d bytes of garbage after the dictionary", len(data)-n)
	}
	return err
}
