package mse

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

var testHash = [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

func lookupOf(hashes ...[20]byte) func([20]byte) ([20]byte, bool) {
	m := map[[20]byte][20]byte{}
	for _, h := range hashes {
		m[SKeyHash(h)] = h
	}
	return func(h [20]byte) ([20]byte, bool) {
		ih, ok := m[h]
		return ih, ok
	}
}

type acceptResult struct {
	conn   net.Conn
	ih     [20]byte
	method Method
	err    error
}

// pair runs Initiate and Accept over a net.Pipe and returns both ends.
func pair(t *testing.T, ih [20]byte, provide Method, ia []byte, cfg AcceptConfig) (net.Conn, Method, error, acceptResult) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	done := make(chan acceptResult, 1)
	go func() {
		c, h, m, err := Accept(ctx, b, cfg)
		if err != nil {
			b.Close() // as a caller does: the initiator sees the drop
		}
		done <- acceptResult{c, h, m, err}
	}()
	c, m, err := Initiate(ctx, a, ih, provide, ia)
	if err != nil {
		a.Close()
	}
	return c, m, err, <-done
}

// exchange checks that bytes flow both ways over the handshake's conns,
// the initiator's initial payload first.
func exchange(t *testing.T, ini, acc net.Conn, ia []byte) {
	t.Helper()
	got := make([]byte, len(ia))
	if _, err := io.ReadFull(acc, got); err != nil || !bytes.Equal(got, ia) {
		t.Fatalf("accepting side read initial payload %q, %v; want %q", got, err, ia)
	}
	msg := make([]byte, 200000) // longer than one write chunk
	rand.Read(msg)
	for _, dir := range []struct {
		name     string
		from, to net.Conn
	}{{"initiator->acceptor", ini, acc}, {"acceptor->initiator", acc, ini}} {
		errc := make(chan error, 1)
		go func() {
			_, err := dir.from.Write(msg)
			errc <- err
		}()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(dir.to, got); err != nil {
			t.Fatalf("%s: %v", dir.name, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%s: bytes differ", dir.name)
		}
	}
}

func TestSelection(t *testing.T) {
	ia := []byte("\x13BitTorrent protocol and the rest of a handshake")
	for _, tc := range []struct {
		name             string
		provide, allowed Method
		preferRC4        bool
		want             Method
	}{
		{"both offered, both allowed: plaintext", RC4 | Plaintext, RC4 | Plaintext, false, Plaintext},
		{"both offered, both allowed, rc4 preferred", RC4 | Plaintext, RC4 | Plaintext, true, RC4},
		{"rc4 only", RC4, RC4 | Plaintext, false, RC4},
		{"rc4 only allowed", RC4 | Plaintext, RC4, false, RC4},
		{"plaintext only offered", Plaintext, RC4 | Plaintext, true, Plaintext},
		{"plaintext only allowed", RC4 | Plaintext, Plaintext, true, Plaintext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, m, err, acc := pair(t, testHash, tc.provide, ia, AcceptConfig{Lookup: lookupOf(testHash), Allowed: tc.allowed, PreferRC4: tc.preferRC4})
			if err != nil || acc.err != nil {
				t.Fatalf("initiate: %v; accept: %v", err, acc.err)
			}
			if m != tc.want || acc.method != tc.want {
				t.Fatalf("methods %v (initiator) and %v (acceptor), want %v", m, acc.method, tc.want)
			}
			if acc.ih != testHash {
				t.Fatalf("acceptor found info-hash %x", acc.ih)
			}
			if IsEncrypted(ini) != (tc.want == RC4) || IsEncrypted(acc.conn) != (tc.want == RC4) {
				t.Fatalf("IsEncrypted %v/%v for method %v", IsEncrypted(ini), IsEncrypted(acc.conn), tc.want)
			}
			exchange(t, ini, acc.conn, ia)
		})
	}
}

func TestNoCommonMethod(t *testing.T) {
	_, _, err, acc := pair(t, testHash, Plaintext, nil, AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4})
	if !errors.Is(acc.err, ErrNoCommonMethod) {
		t.Fatalf("accept: %v, want ErrNoCommonMethod", acc.err)
	}
	if err == nil {
		t.Fatal("initiate succeeded without a common method")
	}
}

func TestWrongInfoHash(t *testing.T) {
	other := testHash
	other[0] ^= 0xff
	_, _, err, acc := pair(t, other, RC4, []byte("x"), AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4 | Plaintext})
	if !errors.Is(acc.err, ErrUnknownTorrent) {
		t.Fatalf("accept: %v, want ErrUnknownTorrent", acc.err)
	}
	if err == nil {
		t.Fatal("initiate succeeded for a torrent the acceptor does not serve")
	}
}

func TestManyTorrents(t *testing.T) {
	hashes := make([][20]byte, 50)
	for i := range hashes {
		hashes[i][0] = byte(i)
	}
	ini, _, err, acc := pair(t, hashes[37], RC4, []byte("hi"), AcceptConfig{Lookup: lookupOf(hashes...), Allowed: RC4})
	if err != nil || acc.err != nil {
		t.Fatalf("initiate: %v; accept: %v", err, acc.err)
	}
	if acc.ih != hashes[37] {
		t.Fatalf("acceptor found %x, want %x", acc.ih, hashes[37])
	}
	exchange(t, ini, acc.conn, []byte("hi"))
}

func TestPlaintextHandshakeDetected(t *testing.T) {
	hs := append([]byte(plainPrefix), make([]byte, 48)...)
	hs[30] = 7
	for _, allow := range []bool{true, false} {
		a, b := net.Pipe()
		go func() {
			a.Write(hs)
			a.Write([]byte("after"))
		}()
		c, ih, m, err := Accept(context.Background(), b, AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4, AllowPlaintext: allow})
		if !allow {
			if !errors.Is(err, ErrPlaintextRefused) {
				t.Fatalf("plaintext refused: got %v", err)
			}
			a.Close()
			b.Close()
			continue
		}
		if err != nil || m != None || ih != ([20]byte{}) {
			t.Fatalf("Accept = %v, %x, %v", m, ih, err)
		}
		got := make([]byte, len(hs)+5)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if want := append(append([]byte{}, hs...), "after"...); !bytes.Equal(got, want) {
			t.Fatalf("read %q, want the handshake and what followed, untouched", got)
		}
		a.Close()
		b.Close()
	}
}

func TestEncryptedRefusedWhenOff(t *testing.T) {
	_, _, err, acc := pair(t, testHash, RC4|Plaintext, nil, AcceptConfig{Lookup: lookupOf(testHash), AllowPlaintext: true})
	if !errors.Is(acc.err, ErrEncryptedRefused) || err == nil {
		t.Fatalf("accept: %v (want ErrEncryptedRefused); initiate: %v", acc.err, err)
	}
}

// script plays a peer from bytes: reads return them, writes vanish.
type script struct {
	net.Conn // nil: only the methods below are called
	r        *bytes.Reader
}

func (s *script) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *script) Write(p []byte) (int, error)      { return len(p), nil }
func (s *script) SetDeadline(time.Time) error      { return nil }
func (s *script) SetReadDeadline(time.Time) error  { return nil }
func (s *script) SetWriteDeadline(time.Time) error { return nil }
func (s *script) Close() error                     { return nil }
func newScript(b []byte) *script                   { return &script{r: bytes.NewReader(b)} }
func (s *script) RemoteAddr() net.Addr             { return nil }
func (s *script) LocalAddr() net.Addr              { return nil }

func TestGarbageRefused(t *testing.T) {
	cfg := AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4 | Plaintext, AllowPlaintext: true}
	// A valid-looking key then random bytes: req1 never shows up within
	// the window, and Accept says so without reading on.
	garbage := make([]byte, 4000)
	rand.Read(garbage)
	garbage[0] = 0x42
	garbage[1] = 0x42
	_, _, _, err := Accept(context.Background(), newScript(garbage), cfg)
	if !errors.Is(err, ErrNoSync) {
		t.Fatalf("garbage: %v, want ErrNoSync", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("not an encrypted BitTorrent handshake")) {
		t.Fatalf("error %q does not say what went wrong", err)
	}
	// An HTTP request: too short for a key.
	_, _, _, err = Accept(context.Background(), newScript([]byte("GET / HTTP/1.1\r\n\r\n")), cfg)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short garbage: %v, want an unexpected EOF", err)
	}
	// A key out of range.
	_, _, _, err = Accept(context.Background(), newScript(make([]byte, 200)), cfg)
	if !errors.Is(err, errBadKey) {
		t.Fatalf("zero key: %v, want errBadKey", err)
	}
}

// TestPaddingBounds drives the acceptor with a hand-made initiator: the
// padding before HASH('req1', S) may be 512 bytes but not 513, and
// len(PadC) may not exceed 512.
func TestPaddingBounds(t *testing.T) {
	for _, tc := range []struct {
		padA, padC int
		want       error
	}{
		{0, 0, nil},
		{512, 512, nil},
		{513, 0, ErrNoSync},
		{0, 513, ErrTooLong},
	} {
		a, b := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			_, _, _, err := Accept(context.Background(), b, AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4})
			b.Close()
			errc <- err
		}()
		err := handInitiator(a, tc.padA, tc.padC)
		a.Close()
		aerr := <-errc
		if tc.want == nil && (aerr != nil || err != nil) {
			t.Fatalf("padA %d padC %d: accept %v, initiator %v", tc.padA, tc.padC, aerr, err)
		}
		if tc.want != nil && !errors.Is(aerr, tc.want) {
			t.Fatalf("padA %d padC %d: accept %v, want %v", tc.padA, tc.padC, aerr, tc.want)
		}
	}
}

// handInitiator speaks the initiating side by hand with the given padding
// lengths, and reads the acceptor's answer.
func handInitiator(conn net.Conn, padA, padC int) error {
	d, err := newDH()
	if err != nil {
		return err
	}
	go conn.Write(append(d.pub[:], make([]byte, padA)...)) // the acceptor answers only after reading past it
	yb := make([]byte, keyLen)
	if _, err := io.ReadFull(conn, yb); err != nil {
		return err
	}
	s, err := d.secret(yb)
	if err != nil {
		return err
	}
	enc := newRC4(hash([]byte("keyA"), s[:], testHash[:]))
	req1 := hash([]byte("req1"), s[:])
	req2, req3 := SKeyHash(testHash), hash([]byte("req3"), s[:])
	msg := append([]byte{}, req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	tail := make([]byte, 8+4+2+padC+2)
	tail[11] = byte(RC4)
	tail[12], tail[13] = byte(padC>>8), byte(padC)
	enc.XORKeyStream(tail, tail)
	msg = append(msg, tail...)
	drained := make(chan error, 1)
	go func() { // the rest of PadB, then the acceptor's answer
		_, err := io.Copy(io.Discard, conn)
		drained <- err
	}()
	conn.Write(msg) // errors show in the acceptor's result
	return <-drained
}

// stutter cuts its first write short with a deadline error, as a socket
// with a short write deadline does.
type stutter struct {
	net.Conn
	cut bool
}

func (s *stutter) Write(p []byte) (int, error) {
	if !s.cut && len(p) > 10 {
		s.cut = true
		n, err := s.Conn.Write(p[:len(p)/3])
		if err != nil {
			return n, err
		}
		return n, os.ErrDeadlineExceeded
	}
	return s.Conn.Write(p)
}

// TestWriteRetriedAfterTimeout: a write cut short and retried with the
// rest arrives whole, the key stream in step.
func TestWriteRetriedAfterTimeout(t *testing.T) {
	ini, _, err, acc := pair(t, testHash, RC4, nil, AcceptConfig{Lookup: lookupOf(testHash), Allowed: RC4})
	if err != nil || acc.err != nil {
		t.Fatalf("initiate: %v; accept: %v", err, acc.err)
	}
	c := ini.(*Conn)
	c.Conn = &stutter{Conn: c.Conn}
	msg := make([]byte, 5000)
	rand.Read(msg)
	done := make(chan error, 1)
	go func() {
		rest := msg
		for len(rest) > 0 {
			n, err := c.Write(rest)
			rest = rest[n:]
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(acc.conn, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("bytes differ after a retried write")
	}
}
