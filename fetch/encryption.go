package fetch

import (
	"context"
	"fmt"
	"net"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mse"
	"github.com/torfs/torfs/wire"
)

// Encryption is the policy for MSE/PE, the encrypted handshake of
// libtorrent, Transmission, qBittorrent and Vuze (package mse).
type Encryption int

// Encryption policies.
const (
	// EncryptionPrefer, the zero value (and libtorrent's default): dial
	// with the encrypted handshake, offering RC4 and plaintext, and dial
	// again in plaintext when the peer drops it (a peer that answered
	// only in plaintext is dialed in plaintext first from then on, and
	// encrypted at once if it drops that); accept encrypted and
	// plaintext peers. A peer offering both RC4 and plaintext in its
	// encrypted handshake gets plaintext after it, as libtorrent selects
	// by default: the handshake stays hidden, the payload costs no
	// cipher work.
	EncryptionPrefer Encryption = iota
	// EncryptionRequire speaks only RC4-encrypted connections, both ways.
	EncryptionRequire
	// EncryptionOff speaks only plaintext BitTorrent, both ways.
	EncryptionOff
)

func (e Encryption) String() string {
	switch e {
	case EncryptionPrefer:
		return "prefer"
	case EncryptionRequire:
		return "require"
	case EncryptionOff:
		return "off"
	}
	return fmt.Sprintf("Encryption(%d)", int(e))
}

// ParseEncryption parses "prefer", "require" or "off".
func ParseEncryption(s string) (Encryption, error) {
	for _, e := range []Encryption{EncryptionPrefer, EncryptionRequire, EncryptionOff} {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("encryption %q: want prefer, require or off", s)
}

// offered are the methods our encrypted handshakes offer (dialing) or
// select from (accepting).
func (e Encryption) offered() mse.Method {
	if e == EncryptionRequire {
		return mse.RC4
	}
	return mse.RC4 | mse.Plaintext
}

// encryptOut runs the initiating side of the encrypted handshake on a
// fresh connection, our BitTorrent handshake riding in its first flight.
func (c *Client) encryptOut(ctx context.Context, conn net.Conn, ours wire.Handshake) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	ec, _, err := mse.Initiate(ctx, conn, ours.InfoHash, c.cfg.Encryption.offered(), wire.AppendHandshake(nil, ours))
	if err != nil {
		return nil, err
	}
	return ec, nil
}

// encryptIn runs the accepting side of the handshake as the policy
// allows. It returns the connection to read the BitTorrent handshake from
// and the info-hash an encrypted handshake named (zero for a peer that
// did not encrypt).
func (c *Client) encryptIn(conn net.Conn) (net.Conn, metainfo.Hash, error) {
	if c.cfg.Encryption == EncryptionOff {
		return conn, metainfo.Hash{}, nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	ec, ih, _, err := mse.Accept(ctx, conn, mse.AcceptConfig{
		Lookup:         c.servedSKey,
		Allowed:        c.cfg.Encryption.offered(),
		AllowPlaintext: c.cfg.Encryption == EncryptionPrefer,
	})
	return ec, metainfo.Hash(ih), err
}

// servedSKey finds the torrent, or magnet link being resolved, whose
// mse.SKeyHash is h.
func (c *Client) servedSKey(h [20]byte) ([20]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	name, ok := c.skeys[h]
	return [20]byte(name), ok
}

// serveSKeyLocked makes name, just put in torrents, v2Names or
// resolving, found by servedSKey. Called with c.mu held.
func (c *Client) serveSKeyLocked(name metainfo.Hash) {
	c.skeys[mse.SKeyHash(name)] = name
}

// unserveSKeyLocked stops servedSKey finding name, just taken out of
// torrents, v2Names or resolving, unless another of them still holds
// it. Called with c.mu held.
func (c *Client) unserveSKeyLocked(name metainfo.Hash) {
	if c.torrents[name] == nil && c.v2Names[name] == nil && c.resolving[name] == nil {
		delete(c.skeys, mse.SKeyHash(name))
	}
}

// Set parses s as ParseEncryption does, so that an Encryption is a
// flag.Value.
func (e *Encryption) Set(s string) error {
	v, err := ParseEncryption(s)
	if err != nil {
		return err
	}
	*e = v
	return nil
}
