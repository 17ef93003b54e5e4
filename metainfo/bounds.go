package metainfo

import (
	"errors"
	"fmt"
)

// maxDepth bounds bencode nesting, as libtorrent's decoder does. A v1
// torrent needs 5 levels (top dict, info, files, file dict, path list).
const maxDepth = 100

// errNotDict is returned when the data does not start with a dictionary.
var errNotDict = errors.New("not a torrent file: it does not start with a bencoded dictionary")

// checkBounds walks the bencoded value at the start of data without
// decoding it and returns its length. It exists because the bencode
// decoder allocates a string's claimed length before reading it: here
// every string length is checked against the bytes actually present and
// nesting is bounded, so the decoder that runs afterwards never allocates
// more than the input's size and never recurses deeply.
func checkBounds(data []byte) (int, error) {
	if len(data) == 0 || data[0] != 'd' {
		return 0, errNotDict
	}
	depth := 0
	i := 0
	for {
		if i >= len(data) {
			return 0, errors.New("truncated torrent file: a dictionary or list is not closed")
		}
		switch c := data[i]; {
		case c == 'd' || c == 'l':
			depth++
			if depth > maxDepth {
				return 0, fmt.Errorf("invalid torrent file: bencode nested deeper than %d levels", maxDepth)
			}
			i++
			continue
		case c == 'e':
			if depth == 0 {
				return 0, fmt.Errorf("invalid torrent file: unexpected 'e' at byte %d", i)
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
			if j == start || j >= len(data) || data[j] != 'e' || j-start > 19 {
				return 0, fmt.Errorf("invalid torrent file: malformed integer at byte %d", i)
			}
			i = j + 1
		case c >= '0' && c <= '9':
			n := 0
			j := i
			for j < len(data) && data[j] >= '0' && data[j] <= '9' {
				if j-i >= 10 {
					return 0, fmt.Errorf("invalid torrent file: string length too long at byte %d", i)
				}
				n = n*10 + int(data[j]-'0')
				j++
			}
			if j >= len(data) || data[j] != ':' {
				return 0, fmt.Errorf("invalid torrent file: malformed string length at byte %d", i)
			}
			j++
			if n > len(data)-j {
				return 0, fmt.Errorf("truncated torrent file: a string at byte %d claims %d bytes but only %d remain", i, n, len(data)-j)
			}
			i = j + n
		default:
			return 0, fmt.Errorf("invalid torrent file: unexpected byte %q at offset %d", c, i)
		}
		if depth == 0 {
			return i, nil
		}
	}
}
