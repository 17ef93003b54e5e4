package fetch

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestUnackedShrinksAsPeerReads: the count a blocked write watches for
// progress grows while the peer does not read and falls back to zero once
// it reads everything.
func TestUnackedShrinksAsPeerReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	far, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	near, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer near.Close()
	if n, ok := unacked(near); !ok || n != 0 {
		t.Fatalf("unacked before any write = %d, %v; want 0, true", n, ok)
	}

	// Fill the socket: the peer reads nothing.
	b := make([]byte, 32<<20)
	near.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	sent, err := near.Write(b)
	if sent == 0 {
		t.Fatalf("nothing written: %v", err)
	}
	full, ok := unacked(near)
	if !ok || full == 0 {
		t.Fatalf("unacked with %d bytes unread = %d, %v; want > 0", sent, full, ok)
	}

	if _, err := io.ReadFull(far, make([]byte, sent)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if n, _ := unacked(near); n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("unacked stays above zero after the peer read all %d bytes", sent)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestUnackedOfAPipe: a connection without a socket has no count.
func TestUnackedOfAPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := unacked(a); ok {
		t.Fatal("unacked of a pipe reports a count")
	}
}
