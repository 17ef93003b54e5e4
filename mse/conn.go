package mse

import (
	"crypto/rc4"
	"errors"
	"net"
	"sync"
	"syscall"
)

// Method is an encryption method of the handshake's crypto_provide and
// crypto_select fields; a set of methods is their bitwise or.
type Method uint32

// Methods.
const (
	// Plaintext: after the handshake the BitTorrent protocol travels
	// unencrypted (only the handshake is obfuscated).
	Plaintext Method = 0x01
	// RC4: the BitTorrent protocol travels RC4-encrypted both ways.
	RC4 Method = 0x02
	// None is not a method: Accept returns it for a peer that sent a
	// plain BitTorrent handshake without MSE.
	None Method = 0
)

func (m Method) String() string {
	switch m {
	case None:
		return "none"
	case Plaintext:
		return "plaintext"
	case RC4:
		return "rc4"
	case Plaintext | RC4:
		return "plaintext|rc4"
	}
	return "unknown"
}

// maxWriteChunk bounds the buffer a Conn encrypts writes into: a longer
// write is encrypted and sent in pieces of this size.
const maxWriteChunk = 64 << 10

// Conn is a connection after the handshake: reads return first what
// arrived with the handshake, then the rest of the stream, decrypted
// when the method is RC4; writes are encrypted when it is RC4.
type Conn struct {
	net.Conn
	method Method

	rmu    sync.Mutex
	prefix []byte // decrypted bytes read with the handshake, not yet returned
	dec    *rc4.Cipher

	wmu     sync.Mutex
	enc     *rc4.Cipher
	wbuf    []byte // reused for encrypting writes
	pending []byte // encrypted bytes of wbuf a cut-short write did not send
}

// Method returns the method chosen in the handshake (None when the peer
// skipped MSE).
func (c *Conn) Method() Method { return c.method }

// Encrypted reports whether the payload stream is RC4-encrypted.
func (c *Conn) Encrypted() bool { return c.enc != nil }

// Read reads and decrypts. The decryption is done in place in p.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if c.dec != nil && n > 0 {
		c.dec.XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// Write encrypts p into a buffer of the Conn's (p is left alone) and
// writes it. A write cut short (by a deadline) keeps the encrypted bytes
// it did not send: the next Write sends them in place of as many bytes
// at the start of its p, which must be those same bytes, as when a
// caller retries with what was not written.
func (c *Conn) Write(p []byte) (int, error) {
	if c.enc == nil {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		if len(c.pending) == 0 {
			chunk := p[:min(len(p), maxWriteChunk)]
			if cap(c.wbuf) < len(chunk) {
				c.wbuf = make([]byte, max(len(chunk), min(2*cap(c.wbuf), maxWriteChunk)))
			}
			c.pending = c.wbuf[:len(chunk)]
			c.enc.XORKeyStream(c.pending, chunk)
		}
		n, err := c.Conn.Write(c.pending[:min(len(c.pending), len(p))])
		c.pending = c.pending[n:]
		written += n
		p = p[n:]
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

var errNoSyscallConn = errors.New("mse: the underlying connection has no file descriptor")

// SyscallConn returns the underlying connection's, so that socket
// queries (the send queue's length) still work through a Conn.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errNoSyscallConn
}

// Unwrap returns the underlying connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// IsEncrypted reports whether conn is a Conn whose payload is
// RC4-encrypted.
func IsEncrypted(conn net.Conn) bool {
	c, ok := conn.(*Conn)
	return ok && c.Encrypted()
}
