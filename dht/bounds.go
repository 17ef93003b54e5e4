package dht

import (
	"errors"
	"fmt"
)

// maxDepth bounds bencode nesting in a KRPC packet: the deepest real field
// ("values" or "want" inside "r" or "a") is at level 3.
const maxDepth = 8

// checkBounds walks the bencoded dictionary that must fill data exactly,
// without decoding it. The bencode decoder allocates a string's claimed
// length before reading it; here every length is checked against the
// bytes present and nesting is bounded, so decoding an untrusted packet
// afterwards never allocates more than the packet's size.
func checkBounds(data []byte) error {
	if len(data) == 0 || data[0] != 'd' {
		return errors.New("not a bencoded dictionary")
	}
	depth, i := 0, 0
	for {
		if i >= len(data) {
			return errors.New("truncated: a dictionary or list is not closed")
		}
		switch c := data[i]; {
		case c == 'd' || c == 'l':
			depth++
			if depth > maxDepth {
				return fmt.Errorf("nested deeper than %d levels", maxDepth)
			}
			i++
			continue
		case c == 'e':
			if depth == 0 {
				return fmt.Errorf("unexpected 'e' at byte %d", i)
			}
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
			if j == start || j >= len(data) || data[j] != 'e' || j-start > 18 {
				return fmt.Errorf("malformed integer at byte %d", i)
			}
			i = j + 1
		case c >= '0' && c <= '9':
			n, j := 0, i
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				if j-i >= 6 { // a UDP packet holds less than 1e6 bytes
					return fmt.Errorf("string length too long at byte %d", i)
				}
				n = n*10 + int(data[j]-'0')
				j++
			}
			if j >= len(data) || data[j] != ':' {
				return fmt.Errorf("malformed string length at byte %d", i)
			}
			j++
			if n > len(data)-j {
				return fmt.Errorf("string at byte %d claims %d bytes but only %d remain", i, n, len(data)-j)
			}
			i = j + n
		default:
			return fmt.Errorf("unexpected byte %q at offset %d", c, i)
		}
		if depth == 0 {
			if i != len(data) {
				return fmt.Errorf("%d bytes of garbage after the message", len(data)-i)
			}
			return nil
		}
	}
}
