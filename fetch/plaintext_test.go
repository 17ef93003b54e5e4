package fetch

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/mse"
	"github.com/torfs/torfs/wire"
)

// pickyPeer accepts BitTorrent handshakes of one kind only, plaintext or
// encrypted, hanging up on the other, and counts the connections it got.
type pickyPeer struct {
	ln         net.Listener
	ih         [20]byte
	requireEnc atomic.Bool
	accepts    atomic.Int32
	wg         sync.WaitGroup
	mu         sync.Mutex
	conns      []net.Conn
}

func startPickyPeer(t *testing.T, ih [20]byte) *pickyPeer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pickyPeer{ln: ln, ih: ih}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *pickyPeer) addr() netip.AddrPort {
	return p.ln.Addr().(*net.TCPAddr).AddrPort()
}

func (p *pickyPeer) serve() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepts.Add(1)
		p.mu.Lock()
		p.conns = append(p.conns, conn)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(conn)
		}()
	}
}

func (p *pickyPeer) handle(conn net.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := mse.AcceptConfig{
		Lookup: func(h [20]byte) ([20]byte, bool) { return p.ih, h == mse.SKeyHash(p.ih) },
	}
	if p.requireEnc.Load() {
		cfg.Allowed = mse.RC4
	} else {
		cfg.AllowPlaintext = true // and no method for an encrypted one
	}
	ec, _, _, err := mse.Accept(ctx, conn, cfg)
	if err != nil {
		conn.Close()
		return
	}
	if _, err := wire.ReadHandshake(ec); err != nil {
		conn.Close()
		return
	}
	wire.WriteHandshake(ec, wire.Handshake{InfoHash: p.ih, PeerID: [20]byte{'p'}})
	// Left open: the test's cleanup closes it.
}

// TestDialRemembersHowPeersTalk: with encryption preferred, a peer that
// dropped the encrypted handshake and then talked in plaintext is dialed
// in plaintext first next time (one connection, not two); when it drops
// plaintext, the encrypted handshake follows at once and is the one tried
// first after that; a PEX flag 0x01 puts encryption first again.
func TestDialRemembersHowPeersTalk(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Config{})
	ih := [20]byte{'i', 'h'}
	peer := startPickyPeer(t, ih)
	addr := peer.addr()
	ours := wire.Handshake{InfoHash: ih, PeerID: c.cfg.PeerID}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func(step string, flags byte, wantConns int32, wantEncrypted bool) {
		t.Helper()
		before := peer.accepts.Load()
		conn, hs, _, err := c.exchange(ctx, &wg, addr, c.transports, 0, ours, flags)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		defer conn.Close()
		if hs.InfoHash != ih {
			t.Fatalf("%s: handshake for %x", step, hs.InfoHash)
		}
		if got := peer.accepts.Load() - before; got != wantConns {
			t.Errorf("%s: %d connections, want %d", step, got, wantConns)
		}
		if usesMSE(conn) != wantEncrypted {
			t.Errorf("%s: encrypted handshake %v, want %v", step, usesMSE(conn), wantEncrypted)
		}
	}
	dial("first dial of a plaintext peer", 0, 2, false)
	dial("second dial of a plaintext peer", 0, 1, false)
	peer.requireEnc.Store(true)
	dial("the peer now requires encryption", 0, 2, true)
	dial("dial after encryption worked", 0, 1, true)

	peer.requireEnc.Store(false)
	dial("the peer turned encryption off", 0, 2, false)
	peer.requireEnc.Store(true)
	dial("PEX says it prefers encryption", wire.PEXEncryption, 1, true)

	// The memory is bounded.
	var s plaintextPeers
	for i := range maxPlaintextPeers + 10 {
		s.set(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1), true)
	}
	if len(s.m) != maxPlaintextPeers {
		t.Fatalf("%d addresses remembered, cap %d", len(s.m), maxPlaintextPeers)
	}
}

// TestEncryptionFlagsBetweenPeers: two clients preferring encryption
// connect through the encrypted handshake, tell each other e=1, and name
// each other with PEX flag 0x01; a client with encryption off sends no
// e and gets no 0x01 (nothing downloads: the peers stay connected).
func TestEncryptionFlagsBetweenPeers(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	for _, tc := range []struct {
		leech Encryption
		want  bool
	}{
		{EncryptionPrefer, true},
		{EncryptionOff, false},
	} {
		seed := newTestClient(t, Config{})
		seedTor := addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
		leech := newTestClient(t, Config{Encryption: tc.leech})
		leechTor := addTorrent(t, leech, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{seed.Addr().String()}})
		// The extended handshakes have crossed once each side has the
		// other's listening port (p) or ut_pex id.
		onePeer := func(tor *Torrent) *peer {
			for p := range tor.peers {
				if p.pex.id != 0 {
					return p
				}
			}
			return nil
		}
		for _, tor := range []*Torrent{seedTor, leechTor} {
			testutil.Eventually(t, "extended handshakes", func() bool {
				tor.mu.Lock()
				defer tor.mu.Unlock()
				return onePeer(tor) != nil
			})
		}
		seedTor.mu.Lock()
		p := onePeer(seedTor)
		prefers, flags := p.prefersEnc, p.pexFlags()
		seedTor.mu.Unlock()
		if prefers != tc.want || (flags&wire.PEXEncryption != 0) != tc.want {
			t.Errorf("leech %v: the seed sees e=1 %v, PEX flags %#x; want encryption %v", tc.leech, prefers, flags, tc.want)
		}
		leechTor.mu.Lock()
		p = onePeer(leechTor)
		prefers, flags = p.prefersEnc, p.pexFlags()
		leechTor.mu.Unlock()
		// The seed prefers encryption whatever the leech does.
		if !prefers || flags&wire.PEXEncryption == 0 {
			t.Errorf("leech %v: the leech sees e=1 %v, PEX flags %#x; want e=1 and 0x01", tc.leech, prefers, flags)
		}
	}
}
