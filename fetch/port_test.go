package fetch

import (
	"net"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// TestGreetingSendsDHTPort: a peer whose handshake has the DHT bit gets
// our DHT node's port in a PORT message (BEP 5); a peer without it does
// not, and a private torrent never sends one.
func TestGreetingSendsDHTPort(t *testing.T) {
	c := newTestClient(t, Config{DHT: &DHTConfig{Bootstrap: []string{}}})
	pub, data := magnetTorrent(t, 4)
	addTorrent(t, c, pub, newMemStorage(&pub.Info, data), TorrentOptions{})
	a, ok := c.DHTAddr()
	if !ok {
		t.Fatal("client has no DHT node")
	}
	want := uint16(a.(*net.UDPAddr).Port)
	priv, pdata := magnetTorrent(t, 5)
	priv.Info.Private = true
	addTorrent(t, c, priv, newMemStorage(&priv.Info, pdata), TorrentOptions{})

	for i, tc := range []struct {
		name     string
		dhtBit   bool
		private  bool
		wantPort bool
	}{
		{"public, DHT peer", true, false, true},
		{"public, peer without DHT", false, false, false},
		{"private, DHT peer", true, true, false},
	} {
		ih := pub.InfoHash
		if tc.private {
			ih = priv.InfoHash
		}
		conn, err := net.DialTimeout("tcp", c.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		h := wire.Handshake{InfoHash: ih}
		h.Reserved.SetFast(true)
		h.Reserved.SetDHT(tc.dhtBit)
		copy(h.PeerID[:], "-XX0001-portpeer123")
		h.PeerID[19] = byte('a' + i) // one id per case: the last connection may linger
		if err := wire.WriteHandshake(conn, h); err != nil {
			t.Fatal(err)
		}
		if _, err := wire.ReadHandshake(conn); err != nil {
			t.Fatal(err)
		}
		// The greeting is one write: a have-all (we seed), then PORT if
		// any. Whatever followed the have-all in that write is already
		// in the decoder's buffer once the have-all is decoded.
		dec := wire.NewDecoder(conn, 64<<10)
		var m wire.Message
		if err := dec.Decode(&m); err != nil || m.ID != wire.HaveAll {
			t.Fatalf("%s: greeting starts with message %d (%v), want have-all", tc.name, m.ID, err)
		}
		got := -1
		if dec.Buffered() > 0 {
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if m.ID == wire.Port {
				got = int(m.Port)
			}
		}
		conn.Close()
		switch {
		case tc.wantPort && got != int(want):
			t.Errorf("%s: PORT %d, want %d", tc.name, got, want)
		case !tc.wantPort && got != -1:
			t.Errorf("%s: sent PORT %d, want none", tc.name, got)
		}
	}
}
