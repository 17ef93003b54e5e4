package fetch

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// TestUnackedShrinksAsPeerReads: the count a blocked write watches for
// progress grows while the peer does not read and falls back to zero once
// it reads everything.
func TestUnackedShrinksAsPeerReads(t *testing.T) {
	near, far := tcpPair(t)
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

// TestUnreadPeerWastesSlot: a peer that leaves what we wrote a while ago
// unacknowledged wastes its slot even when no write waits; once it reads
// everything it no longer does.
func TestUnreadPeerWastesSlot(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: time.Second, idleSlotAfter: time.Hour})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	near, far := tcpPair(t)
	var hs wire.Handshake
	p := newPeer(tor, near, hs, netip.AddrPort{}, TransportTCP)
	p.peerInterested = true

	b := make([]byte, 32<<20)
	near.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	sent, _ := near.Write(b)
	now := time.Now()
	p.wroteAt.Store(now.UnixNano())
	tor.mu.Lock()
	if p.wastesSlot(now) {
		t.Error("wastesSlot = true right after a write")
	}
	p.wroteAt.Store(now.Add(-time.Minute).UnixNano())
	if !p.wastesSlot(now) {
		t.Errorf("wastesSlot = false with %d bytes written a minute ago and not read", sent)
	}
	tor.mu.Unlock()

	if _, err := io.ReadFull(far, b[:sent]); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		tor.mu.Lock()
		wastes := p.wastesSlot(now)
		tor.mu.Unlock()
		if !wastes {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("wastesSlot stays true after the peer read everything")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestSlowReaderResumes: a write to a peer that stops reading stalls; once
// the peer reads again the peer counts as a slow reader, which gets longer
// before it counts as stalled, and one that never paused does not.
func TestSlowReaderResumes(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 256<<10)
	c := newTestClient(t, Config{stallAfter: 200 * time.Millisecond})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	near, far := tcpPair(t)
	var hs wire.Handshake
	p := newPeer(tor, near, hs, netip.AddrPort{}, TransportTCP)

	if err := p.write(make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	if p.resumed.Load() {
		t.Fatal("a write that never waited counts as resumed")
	}
	b := make([]byte, 32<<20)
	done := make(chan error, 1)
	go func() { done <- p.write(b) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !p.writeStalled(time.Now()) {
		select {
		case <-ctx.Done():
			t.Fatal("a write to a peer that reads nothing never stalls")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if p.resumed.Load() {
		t.Fatal("a peer that reads nothing counts as resumed")
	}
	if _, err := io.ReadFull(far, make([]byte, 1<<10+len(b))); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !p.resumed.Load() {
		t.Error("a peer that read again after a pause does not count as resumed")
	}
	if got, want := p.stallLimit(), slowStallFactor*200*time.Millisecond; got != want {
		t.Errorf("stall limit of a slow reader = %v, want %v", got, want)
	}
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends: near is ours, far the peer's.
func tcpPair(t *testing.T) (near, far net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	far, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { far.Close() })
	near, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { near.Close() })
	return near, far
}
