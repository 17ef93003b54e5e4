package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// connIDEpoch is how often the UDP connection-id key changes. An id is
// accepted in the epoch it was made and the next one, so it lives one to
// two minutes: BEP 15 has clients use an id for one and servers accept it
// for two.
const connIDEpoch = time.Minute

// connIDMAC makes and checks BEP 15 connection ids without remembering
// any: an id is a MAC of the client's address under a key that
// changes every epoch, so only a party that receives packets at that
// address can learn a valid id, and the server keeps no state per client.
type connIDMAC struct {
	secret [32]byte
}

func newConnIDMAC() (*connIDMAC, error) {
	m := &connIDMAC{}
	if _, err := rand.Read(m.secret[:]); err != nil {
		return nil, fmt.Errorf("tracker cannot get randomness for connection ids: %w", err)
	}
	return m, nil
}

// sum is the first 8 bytes of SHA-256(secret || epoch || ip). The port
// is left out: proving the address is what matters (a spoofer cannot
// receive there), and clients may send from several sockets.
// The input has a fixed length, so a secret prefix is a sound MAC; the
// epoch in it is what rotates the effective key.
func (m *connIDMAC) sum(addr netip.AddrPort, epoch uint64) uint64 {
	var in [32 + 8 + 16]byte
	copy(in[:32], m.secret[:])
	binary.BigEndian.PutUint64(in[32:], epoch)
	ip := addr.Addr().As16()
	copy(in[40:], ip[:])
	h := sha256.Sum256(in[:])
	return binary.BigEndian.Uint64(h[:8])
}

func epochOf(t time.Time) uint64 { return uint64(t.UnixNano() / int64(connIDEpoch)) }

// make returns the connection id for addr now.
func (m *connIDMAC) make(addr netip.AddrPort, now time.Time) uint64 {
	return m.sum(addr, epochOf(now))
}

// valid reports whether id was made for addr in this epoch or the last.
func (m *connIDMAC) valid(id uint64, addr netip.AddrPort, now time.Time) bool {
	e := epochOf(now)
	return id == m.sum(addr, e) || id == m.sum(addr, e-1)
}
