package mse

import (
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/big"
)

// keyLen is the length of a public key and of the shared secret: 768
// bits.
const keyLen = 96

// privLen is the length of a private key: 160 bits, as the specification
// recommends.
const privLen = 20

// primeHex is the specification's 768-bit safe prime; the generator is 2.
const primeHex = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563"

// dh is one side's Diffie-Hellman key pair.
type dh struct {
	p, x *big.Int
	pub  [keyLen]byte
}

func newDH() (*dh, error) {
	p, ok := new(big.Int).SetString(primeHex, 16)
	if !ok {
		panic("mse: bad prime")
	}
	var xb [privLen]byte
	if _, err := rand.Read(xb[:]); err != nil {
		return nil, fmt.Errorf("generating an encryption key: %w", err)
	}
	x := new(big.Int).SetBytes(xb[:])
	y := new(big.Int).Exp(big.NewInt(2), x, p)
	d := &dh{p: p, x: x}
	y.FillBytes(d.pub[:])
	return d, nil
}

var errBadKey = errors.New("the peer's encryption key is out of range")

// secret returns S, the secret shared with the peer whose public key is
// peer, as 96 big-endian bytes.
func (d *dh) secret(peer []byte) ([keyLen]byte, error) {
	var s [keyLen]byte
	y := new(big.Int).SetBytes(peer)
	// 0, 1 and p-1 (or anything at or above p) would make the secret
	// guessable; a genuine peer never sends them.
	pm1 := new(big.Int).Sub(d.p, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return s, errBadKey
	}
	new(big.Int).Exp(y, d.x, d.p).FillBytes(s[:])
	return s, nil
}

// hash is the specification's HASH: SHA-1 of the concatenated parts.
func hash(parts ...[]byte) [sha1.Size]byte {
	h := sha1.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [sha1.Size]byte
	h.Sum(out[:0])
	return out
}

// SKeyHash returns HASH('req2', infoHash), the value an accepting side
// recovers from the initiator's handshake; Accept's lookup is given it
// and answers with the info-hash it stands for.
func SKeyHash(infoHash [20]byte) [20]byte {
	return hash([]byte("req2"), infoHash[:])
}
