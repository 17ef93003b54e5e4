package wire

// Bits is a set of piece indexes in the wire's bit order: piece 0 is
// the high bit of byte 0.
type Bits []byte

// NewBits returns an empty bitfield for n pieces.
func NewBits(n int) Bits { return make(Bits, (n+7)/8) }

// Has reports whether piece i is in the set; out-of-range is false.
func (b Bits) Has(i int) bool {
	return i >= 0 && i/8 < len(b) && b[i/8]&(0x80>>(i%8)) != 0
}

// Set adds piece i.
func (b Bits) Set(i int) { b[i/8] |= 0x80 >> (i % 8) }

// Clear removes piece i.
func (b Bits) Clear(i int) { b[i/8] &^= 0x80 >> (i % 8) }

// Valid reports whether b is a well-formed bitfield for n pieces: the
// right length and no spare bits set, as BEP 3 requires.
func (b Bits) Valid(n int) bool {
	if len(b) != (n+7)/8 {
		return false
	}
	if n%8 == 0 {
		return true
	}
	return b[len(b)-1]&(0xff>>(n%8)) == 0
}
