package bencbound

import (
	"bytes"
	"fmt"
)

// Canonical checks that data holds exactly one bencoded value in the one
// form BEP 3 allows for it: every dictionary's keys in strictly ascending
// byte order (so no key twice), and integers and string lengths without
// leading zeros or a negative zero. BitTorrent v2 (BEP 52) torrents must
// be canonical, and libtorrent refuses a 'file tree' that is not. It
// allocates nothing; nesting deeper than maxDepth is an error.
func Canonical(data []byte, maxDepth int) error {
	n, err := walk(data, maxDepth)
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("%w: %d bytes of garbage after its end", ErrMalformed, len(data)-n)
	}
	// walk has checked the structure, so this pass only looks at form.
	var stack [MaxDepth]struct {
		isDict  bool
		wantKey bool
		last    []byte
		hasLast bool
	}
	depth := 0
	i := 0
	for i < len(data) {
		c := data[i]
		atKey := depth > 0 && stack[depth-1].isDict && stack[depth-1].wantKey
		switch {
		case c == 'e':
			depth--
			i++
		case c == 'd' || c == 'l':
			stack[depth].isDict = c == 'd'
			stack[depth].wantKey = true
			stack[depth].hasLast = false
			depth++
			i++
			continue
		case c == 'i':
			j := i + 1
			if data[j] == '-' {
				j++
				if data[j] == '0' {
					return fmt.Errorf("%w: negative zero or leading zero in the integer at byte %d", ErrMalformed, i)
				}
			}
			if data[j] == '0' && data[j+1] != 'e' {
				return fmt.Errorf("%w: leading zero in the integer at byte %d", ErrMalformed, i)
			}
			for data[j] != 'e' {
				j++
			}
			i = j + 1
		default: // a string
			j, n := i, 0
			for data[j] != ':' {
				n = n*10 + int(data[j]-'0')
				j++
			}
			if data[i] == '0' && j > i+1 {
				return fmt.Errorf("%w: leading zero in the string length at byte %d", ErrMalformed, i)
			}
			s := data[j+1 : j+1+n]
			if atKey {
				top := &stack[depth-1]
				if top.hasLast && bytes.Compare(top.last, s) >= 0 {
					return fmt.Errorf("%w: dictionary key %q at byte %d is not after the key before it (%q): keys must be sorted and unique", ErrMalformed, short(s), i, short(top.last))
				}
				top.last, top.hasLast = s, true
				top.wantKey = false
				i = j + 1 + n
				continue // the key's value follows
			}
			i = j + 1 + n
		}
		if depth > 0 && stack[depth-1].isDict {
			stack[depth-1].wantKey = true
		}
	}
	return nil
}

// short trims a key for an error message.
func short(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
