package dht

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/zeebo/bencode"
)

// fillPeerStore fills s to its caps (maxKeys info-hashes sharing maxPeers
// peers), one peer every step from now on, and returns the info-hashes;
// the first holds first.
func fillPeerStore(s *peerStore, first netip.AddrPort, now time.Time, step time.Duration) []ID {
	keys := make([]ID, maxKeys)
	for i := range keys {
		keys[i] = RandomID()
		for j := range maxPeers / maxKeys {
			ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), byte(j)}), 6881)
			if i == 0 && j == 0 {
				ap = first
			}
			s.add(keys[i], ap, now)
			now = now.Add(step)
		}
	}
	return keys
}

// BenchmarkAnnouncePeerFullStore measures one incoming announce_peer end
// to end (validate, decode, token check, store, reply) on a node whose
// peer store is full, the state an announce flood drives it to, against
// a ping through the same path (the floor: decode and reply). "store"
// is the peer store alone at a full store where every announce expires
// an old peer and takes its place.
func BenchmarkAnnouncePeerFullStore(b *testing.B) {
	n, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, QueryRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	from := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	n.mu.Lock()
	keys := fillPeerStore(n.peers, from, time.Now(), 0)
	token := n.tokens.issue(from.Addr(), time.Now())
	n.mu.Unlock()
	id := RandomID()
	query := func(method string, a *queryArgs) []byte {
		a.ID, a.Token = string(id[:]), token
		pkt, err := bencode.EncodeBytes(&message{T: "aa", Y: "q", Q: method, A: a})
		if err != nil {
			b.Fatal(err)
		}
		return pkt
	}
	dec := newDecoder()
	var perOp = map[string]float64{}
	run := func(name string, pkts [][]byte) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				n.handle(dec, pkts[i%len(pkts)], from)
				i++
			}
			perOp[name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
	}
	run("ping", [][]byte{query("ping", &queryArgs{})})
	var fresh [][]byte
	for i := range 256 {
		ih := RandomID()
		binary.BigEndian.PutUint32(ih[:], uint32(i))
		fresh = append(fresh, query("announce_peer", &queryArgs{InfoHash: string(ih[:]), Port: 6881}))
	}
	run("new-info-hash", fresh)
	run("refresh", [][]byte{query("announce_peer", &queryArgs{InfoHash: string(keys[0][:]), Port: int64(from.Port())})})
	if perOp["ping"] > 0 {
		b.Logf("announce to a full store / ping: new info-hash %.2fx, refresh %.2fx", perOp["new-info-hash"]/perOp["ping"], perOp["refresh"]/perOp["ping"])
	}

	b.Run("store", func(b *testing.B) {
		// Peers arrive one every step, so each new one finds exactly
		// one expired to take the place of, in the same info-hash.
		s := newPeerStore()
		step := peerTTL / maxPeers
		start := time.Now()
		keys := fillPeerStore(s, netip.MustParseAddrPort("10.255.0.1:1"), start, step)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now := start.Add(peerTTL + time.Duration(i)*step)
			ih := keys[i/(maxPeers/maxKeys)%maxKeys]
			ip := netip.AddrFrom4([4]byte{192, byte(i >> 24), byte(i >> 16), 1})
			if !s.add(ih, netip.AddrPortFrom(ip, uint16(i)), now) {
				b.Fatal("a full store with an expired peer refused a new one")
			}
			i++
		}
	})
}
