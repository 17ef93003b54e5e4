package mse

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// Bounds of what a peer may send.
const (
	// MaxPadding is the most padding either side may send at any step.
	MaxPadding = 512
	// MaxInitialPayload is the longest initial payload (IA) Initiate
	// sends and Accept takes: room for a BitTorrent handshake and more.
	MaxInitialPayload = 2048
	// DefaultTimeout bounds a handshake whose context has no deadline.
	DefaultTimeout = 20 * time.Second
)

// bufLen holds everything an accepting side reads before the payload
// stream: Ya, PadA, HASH('req1', S), HASH('req2', SKEY) xor
// HASH('req3', S), VC, crypto_provide, len(PadC), PadC, len(IA), IA.
const bufLen = keyLen + MaxPadding + 20 + 20 + 8 + 4 + 2 + MaxPadding + 2 + MaxInitialPayload

// plainPrefix begins every plain BitTorrent handshake.
const plainPrefix = "\x13BitTorrent protocol"

// Errors a handshake fails with; others wrap the connection's error.
var (
	// ErrPlaintextRefused: the peer sent a plain BitTorrent handshake
	// and AcceptConfig.AllowPlaintext was false.
	ErrPlaintextRefused = errors.New("the peer did not encrypt its handshake, and encryption is required")
	// ErrEncryptedRefused: the peer began an encrypted handshake and
	// AcceptConfig.Allowed was empty.
	ErrEncryptedRefused = errors.New("the peer began an encrypted handshake, and encryption is off")
	// ErrUnknownTorrent: the peer asked for a torrent the lookup does
	// not know.
	ErrUnknownTorrent = errors.New("encrypted handshake for a torrent not served here")
	// ErrNoSync: the bytes the specification says must come within a
	// bounded window did not; the peer speaks something else.
	ErrNoSync = errors.New("not an encrypted BitTorrent handshake: its synchronization marker never came")
	// ErrBadVerification: the decrypted verification constant is not
	// zero; the peer does not share our keys.
	ErrBadVerification = errors.New("encrypted handshake does not decrypt: wrong keys or a garbled stream")
	// ErrNoCommonMethod: the peer offered (or chose) no method we allow.
	ErrNoCommonMethod = errors.New("the peer and we have no encryption method in common")
	// ErrTooLong: a length field exceeds its bound.
	ErrTooLong = errors.New("encrypted handshake field exceeds its bound")
)

// AcceptConfig says what Accept takes.
type AcceptConfig struct {
	// Lookup returns the info-hash whose SKeyHash is h, if served.
	Lookup func(h [20]byte) (infoHash [20]byte, ok bool)
	// Allowed are the methods Accept may select for an encrypted
	// handshake; empty refuses encrypted handshakes.
	Allowed Method
	// PreferRC4 selects RC4 when the peer offers both methods and both
	// are allowed; otherwise plaintext is selected then, as libtorrent
	// does by default (its prefer_rc4): the handshake stays hidden, and
	// the payload costs no cipher work.
	PreferRC4 bool
	// AllowPlaintext accepts a peer that skips MSE and sends a plain
	// BitTorrent handshake: Accept then returns method None and the
	// peer's bytes on the Conn.
	AllowPlaintext bool
}

// Accept runs the accepting side of a handshake on conn, bounded by ctx
// (DefaultTimeout when ctx has no deadline). It returns a Conn for the
// BitTorrent protocol, whose first bytes are the peer's initial payload
// (its BitTorrent handshake, usually), the info-hash the peer asked for
// (zero for method None) and the selected method. conn's deadline is
// cleared on success; on failure the caller closes conn.
func Accept(ctx context.Context, conn net.Conn, cfg AcceptConfig) (_ net.Conn, infoHash [20]byte, _ Method, err error) {
	end := guard(ctx, conn)
	defer func() {
		if eerr := end(); err == nil {
			err = eerr
		}
	}()
	b := &hsBuf{conn: conn, buf: make([]byte, bufLen)}
	if err := b.fill(1); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	if b.buf[0] == plainPrefix[0] {
		if err := b.fill(len(plainPrefix)); err != nil {
			return nil, infoHash, 0, fmt.Errorf("handshake: reading: %w", err)
		}
		if string(b.buf[:len(plainPrefix)]) == plainPrefix {
			if !cfg.AllowPlaintext {
				return nil, infoHash, 0, ErrPlaintextRefused
			}
			return &Conn{Conn: conn, method: None, prefix: b.buf[:b.w]}, infoHash, None, nil
		}
	}
	if cfg.Allowed&(RC4|Plaintext) == 0 {
		return nil, infoHash, 0, ErrEncryptedRefused
	}
	if err := b.fill(keyLen); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading the peer's key: %w", err)
	}
	d, err := newDH()
	if err != nil {
		return nil, infoHash, 0, err
	}
	s, err := d.secret(b.take(keyLen))
	if err != nil {
		return nil, infoHash, 0, err
	}
	if err := writeKey(conn, d); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: sending our key: %w", err)
	}
	req1 := hash([]byte("req1"), s[:])
	if err := b.find(req1[:], MaxPadding); err != nil {
		return nil, infoHash, 0, err
	}
	b.take(len(req1))
	if err := b.fill(20); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	var skeyHash [20]byte
	req3 := hash([]byte("req3"), s[:])
	for i, x := range b.take(20) {
		skeyHash[i] = x ^ req3[i]
	}
	ih, ok := [20]byte{}, false
	if cfg.Lookup != nil {
		ih, ok = cfg.Lookup(skeyHash)
	}
	if !ok {
		return nil, infoHash, 0, ErrUnknownTorrent
	}
	dec := newRC4(hash([]byte("keyA"), s[:], ih[:]))
	enc := newRC4(hash([]byte("keyB"), s[:], ih[:]))
	// VC, crypto_provide, len(PadC)
	if err := b.fill(14); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	hdr := b.take(14)
	dec.XORKeyStream(hdr, hdr)
	if !isZero(hdr[:8]) {
		return nil, infoHash, 0, ErrBadVerification
	}
	provide := Method(binary.BigEndian.Uint32(hdr[8:12]))
	padC := int(binary.BigEndian.Uint16(hdr[12:14]))
	if padC > MaxPadding {
		return nil, infoHash, 0, fmt.Errorf("%w: %d bytes of padding", ErrTooLong, padC)
	}
	if err := b.fill(padC + 2); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	rest := b.take(padC + 2)
	dec.XORKeyStream(rest, rest)
	iaLen := int(binary.BigEndian.Uint16(rest[padC:]))
	if iaLen > MaxInitialPayload {
		return nil, infoHash, 0, fmt.Errorf("%w: an initial payload of %d bytes", ErrTooLong, iaLen)
	}
	if err := b.fill(iaLen); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	ia := b.take(iaLen)
	dec.XORKeyStream(ia, ia)
	var sel Method
	switch common := provide & cfg.Allowed; {
	case common&RC4 != 0 && (cfg.PreferRC4 || common&Plaintext == 0):
		sel = RC4
	case common&Plaintext != 0:
		sel = Plaintext
	default:
		return nil, infoHash, 0, fmt.Errorf("%w (offered %v)", ErrNoCommonMethod, provide&(RC4|Plaintext))
	}
	var out [14]byte // VC, crypto_select, len(PadD) = 0
	binary.BigEndian.PutUint32(out[8:12], uint32(sel))
	enc.XORKeyStream(out[:], out[:])
	if _, err := conn.Write(out[:]); err != nil {
		return nil, infoHash, 0, fmt.Errorf("encrypted handshake: sending our choice: %w", err)
	}
	// The peer's initial payload, then whatever followed it already.
	payload := b.buf[b.r-iaLen : b.w]
	c := &Conn{Conn: conn, method: sel, prefix: payload}
	if sel == RC4 {
		early := b.buf[b.r:b.w]
		dec.XORKeyStream(early, early)
		c.dec, c.enc = dec, enc
	}
	if len(c.prefix) == 0 {
		c.prefix = nil
	}
	return c, ih, sel, nil
}

// Initiate runs the connecting side of a handshake on conn for the
// torrent infoHash, bounded by ctx (DefaultTimeout when ctx has no
// deadline). provide are the methods offered (Plaintext, RC4 or both);
// initialPayload, at most MaxInitialPayload bytes, travels encrypted in
// the same flight as the handshake: the BitTorrent handshake, usually.
// It returns a Conn for the rest of the BitTorrent protocol and the
// method the peer selected. conn's deadline is cleared on success; on
// failure the caller closes conn.
func Initiate(ctx context.Context, conn net.Conn, infoHash [20]byte, provide Method, initialPayload []byte) (_ net.Conn, _ Method, err error) {
	provide &= RC4 | Plaintext
	if provide == 0 {
		return nil, 0, errors.New("encrypted handshake: no method to offer")
	}
	if len(initialPayload) > MaxInitialPayload {
		return nil, 0, fmt.Errorf("%w: an initial payload of %d bytes", ErrTooLong, len(initialPayload))
	}
	end := guard(ctx, conn)
	defer func() {
		if eerr := end(); err == nil {
			err = eerr
		}
	}()
	d, err := newDH()
	if err != nil {
		return nil, 0, err
	}
	if err := writeKey(conn, d); err != nil {
		return nil, 0, fmt.Errorf("encrypted handshake: sending our key: %w", err)
	}
	b := &hsBuf{conn: conn, buf: make([]byte, keyLen+MaxPadding+8+4+2+MaxPadding)}
	if err := b.fill(keyLen); err != nil {
		return nil, 0, fmt.Errorf("encrypted handshake: reading the peer's key: %w", err)
	}
	s, err := d.secret(b.take(keyLen))
	if err != nil {
		return nil, 0, err
	}
	enc := newRC4(hash([]byte("keyA"), s[:], infoHash[:]))
	dec := newRC4(hash([]byte("keyB"), s[:], infoHash[:]))

	msg := make([]byte, 0, 20+20+8+4+2+2+len(initialPayload))
	req1 := hash([]byte("req1"), s[:])
	msg = append(msg, req1[:]...)
	req2 := SKeyHash(infoHash)
	req3 := hash([]byte("req3"), s[:])
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	msg = append(msg, make([]byte, 8)...) // VC
	msg = binary.BigEndian.AppendUint32(msg, uint32(provide))
	msg = binary.BigEndian.AppendUint16(msg, 0) // len(PadC)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(initialPayload)))
	msg = append(msg, initialPayload...)
	enc.XORKeyStream(msg[40:], msg[40:])
	if _, err := conn.Write(msg); err != nil {
		return nil, 0, fmt.Errorf("encrypted handshake: sending: %w", err)
	}

	var vc [8]byte // ENCRYPT(VC): the peer's key stream over zeros
	dec.XORKeyStream(vc[:], vc[:])
	if err := b.find(vc[:], MaxPadding); err != nil {
		return nil, 0, err
	}
	b.take(len(vc))
	if err := b.fill(6); err != nil {
		return nil, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	hdr := b.take(6)
	dec.XORKeyStream(hdr, hdr)
	sel := Method(binary.BigEndian.Uint32(hdr[:4]))
	padD := int(binary.BigEndian.Uint16(hdr[4:6]))
	if padD > MaxPadding {
		return nil, 0, fmt.Errorf("%w: %d bytes of padding", ErrTooLong, padD)
	}
	if sel != RC4 && sel != Plaintext || sel&provide == 0 {
		return nil, 0, fmt.Errorf("%w (the peer chose %#x)", ErrNoCommonMethod, uint32(sel))
	}
	if err := b.fill(padD); err != nil {
		return nil, 0, fmt.Errorf("encrypted handshake: reading: %w", err)
	}
	pad := b.take(padD)
	dec.XORKeyStream(pad, pad)
	c := &Conn{Conn: conn, method: sel}
	if early := b.buf[b.r:b.w]; len(early) > 0 {
		if sel == RC4 {
			dec.XORKeyStream(early, early)
		}
		c.prefix = early
	}
	if sel == RC4 {
		c.dec, c.enc = dec, enc
	}
	return c, sel, nil
}

// guard bounds the handshake on conn by ctx, or by DefaultTimeout when
// ctx has no deadline. The returned function lifts the bound, and
// reports the context's error when it ended first.
func guard(ctx context.Context, conn net.Conn) func() error {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
	}
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return func() error {
		defer cancel()
		if !stop() {
			return fmt.Errorf("encrypted handshake: %w", ctx.Err())
		}
		conn.SetDeadline(time.Time{})
		return nil
	}
}

// writeKey sends d's public key and 0 to MaxPadding random bytes, in one
// write.
func writeKey(w io.Writer, d *dh) error {
	n, err := rand.Int(rand.Reader, big.NewInt(MaxPadding+1))
	if err != nil {
		return fmt.Errorf("choosing padding: %w", err)
	}
	msg := make([]byte, keyLen+int(n.Int64()))
	copy(msg, d.pub[:])
	if _, err := rand.Read(msg[keyLen:]); err != nil {
		return fmt.Errorf("choosing padding: %w", err)
	}
	_, err = w.Write(msg)
	return err
}

// newRC4 returns an RC4 cipher keyed with key, its first 1024 bytes of
// key stream discarded as the specification says.
func newRC4(key [20]byte) *rc4.Cipher {
	c, err := rc4.NewCipher(key[:])
	if err != nil {
		panic(err) // 20 bytes is a valid RC4 key length
	}
	var discard [1024]byte
	c.XORKeyStream(discard[:], discard[:])
	return c
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// hsBuf reads a handshake from conn into a fixed buffer: buf[r:w] are
// bytes read but not yet taken.
type hsBuf struct {
	conn net.Conn
	buf  []byte
	r, w int
}

// fill reads until n bytes are available.
func (b *hsBuf) fill(n int) error {
	if b.r+n > len(b.buf) {
		return ErrTooLong // callers' bounds keep within buf
	}
	for b.w-b.r < n {
		m, err := b.conn.Read(b.buf[b.w:])
		b.w += m
		if err != nil && b.w-b.r < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// take consumes n available bytes.
func (b *hsBuf) take(n int) []byte {
	p := b.buf[b.r : b.r+n]
	b.r += n
	return p
}

// find reads until pattern starts within the next window+1 positions
// and skips the bytes before it.
func (b *hsBuf) find(pattern []byte, window int) error {
	for {
		avail := b.buf[b.r:b.w]
		if i := bytes.Index(avail, pattern); i >= 0 && i <= window {
			b.r += i
			return nil
		}
		if len(avail) >= window+len(pattern) {
			return ErrNoSync
		}
		if err := b.fill(len(avail) + 1); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w (the peer closed the connection after %d bytes)", ErrNoSync, b.w)
			}
			return fmt.Errorf("encrypted handshake: reading: %w", err)
		}
	}
}
