package fetch

import (
	"net"
	"net/netip"
	"sync"

	"github.com/torfs/torfs/mse"
	"github.com/torfs/torfs/wire"
)

// With encryption preferred, a peer that drops our encrypted handshake
// and then talks in plaintext (a client with encryption off) would cost
// a wasted connection each time it is dialed, and so would one that
// drops a plaintext handshake (encryption required) if we dialed it in
// plaintext first. The Client remembers the peers that last answered
// only in plaintext and dials them in plaintext first; every other peer
// is dialed encrypted first, and whichever kind a peer drops, the other
// is tried at once over the same transport.

// maxPlaintextPeers bounds the addresses remembered.
const maxPlaintextPeers = 4096

// plaintextPeers are the addresses whose last successful outgoing
// connection was in plaintext after an encrypted handshake failed, or
// was dialed in plaintext first and worked.
type plaintextPeers struct {
	mu sync.Mutex
	m  map[netip.AddrPort]struct{}
}

func (s *plaintextPeers) has(a netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[a]
	return ok
}

// set records how a connection to a succeeded: in plaintext or not.
func (s *plaintextPeers) set(a netip.AddrPort, plaintext bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !plaintext {
		delete(s.m, a)
		return
	}
	if s.m == nil {
		s.m = make(map[netip.AddrPort]struct{})
	}
	if _, ok := s.m[a]; !ok && len(s.m) >= maxPlaintextPeers {
		for old := range s.m { // any one: forgetting costs one failed handshake
			delete(s.m, old)
			break
		}
	}
	s.m[a] = struct{}{}
}

// encryptFirst reports whether addr is dialed with the encrypted
// handshake first: always when encryption is required, never when it is
// off; when preferred, unless the peer last answered in plaintext only
// and nobody (PEX flag 0x01) says since that it prefers encryption.
func (c *Client) encryptFirst(addr netip.AddrPort, pexFlags byte) bool {
	switch c.cfg.Encryption {
	case EncryptionOff:
		return false
	case EncryptionRequire:
		return true
	}
	return pexFlags&wire.PEXEncryption != 0 || !c.plaintext.has(addr)
}

// usesMSE reports whether conn went through the encrypted handshake
// (whichever method it selected): its peer speaks MSE/PE.
func usesMSE(conn net.Conn) bool {
	mc, ok := conn.(*mse.Conn)
	return ok && mc.Method() != mse.None
}
