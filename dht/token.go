package dht

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"net/netip"
	"time"
)

// tokenRotation is how often the token secret changes; a token stays
// valid for one more rotation (BEP 5: up to 10 minutes).
const tokenRotation = 5 * time.Minute

const tokenSize = 8

// tokens issues and checks get_peers tokens: a MAC of the querier's IP
// under a secret that rotates, so only a host that can receive our replies
// at that IP can announce from it. Its owner (Node) serializes access.
type tokens struct {
	cur, prev [32]byte
	rotated   time.Time
}

func newTokens(now time.Time) *tokens {
	t := &tokens{rotated: now}
	_, _ = rand.Read(t.cur[:])
	_, _ = rand.Read(t.prev[:])
	return t
}

func (t *tokens) rotate(now time.Time) {
	for now.Sub(t.rotated) >= tokenRotation {
		t.prev = t.cur
		_, _ = rand.Read(t.cur[:])
		t.rotated = t.rotated.Add(tokenRotation)
		if now.Sub(t.rotated) >= 2*tokenRotation {
			t.rotated = now.Add(-tokenRotation) // skip rotations nobody saw
		}
	}
}

func mac(secret *[32]byte, ip netip.Addr) []byte {
	h := hmac.New(sha256.New, secret[:])
	h.Write(ip.Unmap().AsSlice())
	return h.Sum(nil)[:tokenSize]
}

// issue returns the token for ip.
func (t *tokens) issue(ip netip.Addr, now time.Time) string {
	t.rotate(now)
	return string(mac(&t.cur, ip))
}

// valid reports whether tok was issued to ip by this secret or the
// previous one.
func (t *tokens) valid(tok string, ip netip.Addr, now time.Time) bool {
	t.rotate(now)
	b := []byte(tok)
	return hmac.Equal(b, mac(&t.cur, ip)) || hmac.Equal(b, mac(&t.prev, ip))
}
