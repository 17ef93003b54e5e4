package fetch

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHandshakeFallsBackToOtherTransport: a peer that accepts TCP only to
// hang up (as a libtorrent with TCP off does) but answers over another
// transport is reached over the other one, even when TCP opens first,
// within the same attempt: one TCP connection without encryption, two
// when encryption is preferred (the encrypted handshake, then plaintext
// over the same transport, before the next transport's turn).
func TestHandshakeFallsBackToOtherTransport(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		enc  Encryption
		want int32
	}{{EncryptionOff, 1}, {EncryptionPrefer, 2}} {
		t.Run(c.enc.String(), func(t *testing.T) {
			t.Parallel()
			mi, data := testTorrent(t, 256<<10, 64<<10)
			mem := newMemNet()
			addr := unusedTCPPort(t)
			seedMem := mem.transport(t, "mem", addr)
			seed := newTestClient(t, Config{Transports: []Transport{seedMem}})
			addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})

			// TCP at the same address: accepted and closed at once.
			ln, err := net.Listen("tcp", addr.String())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			leechMem := mem.transport(t, "mem", netip.AddrPort{})
			leechMem.hold = make(chan struct{}) // TCP opens first
			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(leechMem.hold) }) })
			var accepts atomic.Int32
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					accepts.Add(1)
					// Hang up once the leecher's handshake comes: TCP won.
					c.SetReadDeadline(time.Now().Add(20 * time.Second))
					c.Read(make([]byte, 1))
					c.Close()
					release.Do(func() { close(leechMem.hold) })
				}
			}()

			leech := newTestClient(t, Config{Transports: []Transport{&TCP{}, leechMem}, Encryption: c.enc})
			tor := addTorrent(t, leech, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{addr.String()}})
			waitPeers(t, tor, 1, 20*time.Second)
			if got := peerTransports(tor); len(got) != 1 || got[0] != "mem" {
				t.Fatalf("connected over %v, want mem after TCP hung up", got)
			}
			// Within the same attempt, not by a later redial.
			if n := accepts.Load(); n != c.want {
				t.Fatalf("%d TCP connections before the peer was reached, want %d", n, c.want)
			}
		})
	}
}
