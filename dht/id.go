package dht

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"math/bits"
)

// ID is a 160-bit DHT node id or info-hash; the DHT measures the distance
// between two IDs as their XOR.
type ID [20]byte

// RandomID returns an ID drawn from crypto/rand.
func RandomID() ID {
	var id ID
	_, _ = rand.Read(id[:]) // never fails (crypto/rand panics instead)
	return id
}

// String is the ID in hex, as info-hashes are usually printed.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zero bits (no ID given).
func (id ID) IsZero() bool { return id == ID{} }

func xor(a, b ID) ID {
	var d ID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// closer reports whether a is closer to target than b.
func closer(target, a, b ID) bool {
	da, db := xor(target, a), xor(target, b)
	return bytes.Compare(da[:], db[:]) < 0
}

// commonPrefixLen is the number of leading bits a and b share: 160 when
// they are equal. It is also the index of the bucket b belongs to in a's
// routing table.
func commonPrefixLen(a, b ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 160
}

// randomIDInBucket returns a random ID that shares exactly prefix leading
// bits with self: a target whose lookup refreshes bucket prefix.
func randomIDInBucket(self ID, prefix int) ID {
	id := RandomID()
	for i := range prefix / 8 {
		id[i] = self[i]
	}
	if prefix >= 160 {
		return self
	}
	byteIdx, bit := prefix/8, uint(prefix%8)
	keep := byte(0xff) << (8 - bit) // bits of self to keep in this byte
	flip := byte(0x80) >> bit       // the first bit that must differ
	id[byteIdx] = (self[byteIdx] & keep) | (^self[byteIdx] & flip) | (id[byteIdx] &^ (keep | flip))
	return id
}
