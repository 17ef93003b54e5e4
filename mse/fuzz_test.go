package mse

import (
	"context"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

// handshakeAlloc bounds what one handshake may allocate, whatever the
// peer sends: the fixed read buffer, two RC4 states, the key exchange's
// big numbers and our own first flight.
var handshakeAlloc = allocbound.Limit{PerByte: 0, Const: 32 << 10}

func fuzzSeeds(f *testing.F) {
	f.Add([]byte(plainPrefix + "\x00\x00\x00\x00\x00\x10\x00\x05aaaaaaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbbbbb"))
	f.Add(make([]byte, 96))
	f.Add([]byte("\x13BitTorrent protocoX"))
	key := make([]byte, 700)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	f.Add(key)
	f.Add([]byte("GET /announce HTTP/1.1\r\n"))
}

// FuzzAccept feeds arbitrary bytes to the accepting side: it must fail
// or succeed without panicking, reading past its bounds or allocating
// more than handshakeAlloc.
func FuzzAccept(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4 | Plaintext, AllowPlaintext: true}
		allocbound.Check(t, handshakeAlloc, "Accept", data, func() {
			conn := newScript(data)
			c, _, _, err := Accept(context.Background(), conn, cfg)
			if err == nil && c == nil {
				t.Fatal("Accept returned no conn and no error")
			}
		})
	})
}

// FuzzInitiate feeds arbitrary bytes to the initiating side as the
// peer's answer.
func FuzzInitiate(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ia := []byte(plainPrefix)
		allocbound.Check(t, handshakeAlloc, "Initiate", data, func() {
			c, _, err := Initiate(context.Background(), newScript(data), testHash, RC4|Plaintext, ia)
			if err == nil && c == nil {
				t.Fatal("Initiate returned no conn and no error")
			}
		})
	})
}
