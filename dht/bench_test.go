package dht

import (
	"net"
	"testing"

	"github.com/zeebo/bencode"
)

// BenchmarkServeGetPeers measures one incoming get_peers query end to
// end (validate, decode, token, reply, send) against decoding alone, the
// floor of any KRPC server on this codec.
func BenchmarkServeGetPeers(b *testing.B) {
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
	dec := newDecoder()
	ih, id := RandomID(), RandomID()
	pkt, err := bencode.EncodeBytes(&message{T: "aa", Y: "q", Q: "get_peers", A: &queryArgs{ID: string(id[:]), InfoHash: string(ih[:])}})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dec.decode(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n.handle(dec, pkt, from)
		}
	})
}
