package mse

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// loop is a net.Conn that reads back what was written to it.
type loop struct {
	net.Conn
	buf bytes.Buffer
}

func (l *loop) Read(p []byte) (int, error)  { return l.buf.Read(p) }
func (l *loop) Write(p []byte) (int, error) { return l.buf.Write(p) }

// loopConn returns an RC4 Conn whose reads decrypt its own writes.
func loopConn() *Conn {
	var key [20]byte
	key[3] = 9
	return &Conn{Conn: &loop{}, method: RC4, enc: newRC4(key), dec: newRC4(key)}
}

// TestStreamDoesNotAllocate: once warm, reading and writing through an
// RC4 Conn allocates nothing.
func TestStreamDoesNotAllocate(t *testing.T) {
	c := loopConn()
	msg := bytes.Repeat([]byte("torfs "), 3000)
	buf := make([]byte, len(msg))
	roundTrip := func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	if !bytes.Equal(buf, msg) {
		t.Fatal("bytes differ after a round trip")
	}
	if n := testing.AllocsPerRun(100, roundTrip); n != 0 {
		t.Fatalf("%v allocations per write and read", n)
	}
}

// BenchmarkRC4Stream measures a write and a read of 16 KiB through an
// RC4 Conn (both directions' cipher work).
func BenchmarkRC4Stream(b *testing.B) {
	c := loopConn()
	msg := make([]byte, 16<<10)
	buf := make([]byte, len(msg))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		c.Write(msg)
		io.ReadFull(c, buf)
	}
}
