// Package bencbound decodes untrusted bencode without letting the input
// decide how much memory is allocated.
//
// github.com/zeebo/bencode allocates a string's claimed length before it
// reads the string, and recurses once per level of nesting: the 19 bytes
// "d1:v2000000000:abce" make it allocate 2 GB. A Decoder first walks the
// input without decoding or allocating, refusing a string that claims more
// bytes than remain, nesting deeper than its limit and overlong integers,
// and only then hands the checked bytes to the codec. Decoding n bytes
// then allocates at most a small multiple of n: measured, under 128 bytes
// per input byte for the structures torfs decodes (the worst being a list
// of empty dictionaries decoded into a list of structs), plus a few KiB.
//
// Every bencode decode in torfs goes through this package;
// TestOnlyEntryPoint fails on a direct call to the codec's decoders. Dict
// and Exact check a dictionary without decoding it.
package bencbound

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/zeebo/bencode"
)

// ErrMalformed is wrapped by every error of this package: the input is not
// bencode, breaks a limit, or does not fit the value decoded into.
var ErrMalformed = errors.New("malformed bencode")

// ErrNotDict is returned when the input does not start with a dictionary
// where one is required. It wraps ErrMalformed.
var ErrNotDict = fmt.Errorf("%w: not a bencoded dictionary", ErrMalformed)

// DefaultMaxDepth is the nesting limit of a Decoder whose MaxDepth is zero.
const DefaultMaxDepth = 32

// A Decoder decodes bencode after checking it. Its zero value is ready to
// use. A Decoder reuses one read buffer across calls (the codec would
// otherwise allocate 4 KiB per call), so it serves one goroutine at a time.
type Decoder struct {
	// MaxDepth bounds nesting, the outermost value being level 1. Zero
	// means DefaultMaxDepth; values above MaxDepth are lowered to it.
	MaxDepth int

	rd bytes.Reader
	br *bufio.Reader
}

// Decode decodes data, which must hold exactly one bencoded value, into
// the value v points to, as bencode.DecodeBytes does.
func (d *Decoder) Decode(data []byte, v any) error {
	n, err := walk(data, d.maxDepth())
	if err != nil {
		return err
	}
	if n != len(data) {
		return fmt.Errorf("%w: %d bytes of garbage after its end", ErrMalformed, len(data)-n)
	}
	return d.decode(data, v)
}

// DecodeDict decodes the dictionary at the start of data into the value v
// points to and returns its length in bytes; what follows it is left
// alone, as a ut_metadata data message needs.
func (d *Decoder) DecodeDict(data []byte, v any) (int, error) {
	if len(data) == 0 || data[0] != 'd' {
		return 0, ErrNotDict
	}
	n, err := walk(data, d.maxDepth())
	if err != nil {
		return 0, err
	}
	if err := d.decode(data[:n], v); err != nil {
		return 0, err
	}
	return n, nil
}

// Decode decodes data, which must hold exactly one bencoded value, with a
// zero Decoder.
func Decode(data []byte, v any) error {
	var d Decoder
	return d.Decode(data, v)
}

// DecodeDict is Decoder.DecodeDict with a zero Decoder.
func DecodeDict(data []byte, v any) (int, error) {
	var d Decoder
	return d.DecodeDict(data, v)
}

func (d *Decoder) maxDepth() int {
	if d.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return d.MaxDepth
}

// decode runs the codec over checked bytes. The codec panics on some
// inputs instead of returning an error (and walk may miss a case), so a
// panic is an error here, not a crash.
func (d *Decoder) decode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: the decoder failed: %v", ErrMalformed, r)
		}
	}()
	if d.br == nil {
		d.br = bufio.NewReaderSize(&d.rd, 4096)
	}
	d.rd.Reset(data)
	d.br.Reset(&d.rd)
	if err := bencode.NewDecoder(d.br).Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}
