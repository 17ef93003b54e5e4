package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// discardWriter is a ResponseWriter that keeps nothing, so benchmarks
// measure the tracker and not the recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkAnnounceHTTP is the handler's cost per announce (parse, store,
// encode) in a swarm of 10,000 swarms x 10 peers, without the network.
func BenchmarkAnnounceHTTP(b *testing.B) {
	s, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const swarms, peers = 10000, 10
	reqs := make([]*http.Request, 0, 1000)
	for i := range cap(reqs) {
		r := httptest.NewRequest(http.MethodGet, announceQ(hashOf(i%swarms), i%peers, "&compact=1"), nil)
		r.RemoteAddr = fmt.Sprintf("10.0.%d.%d:1", i/250, i%250)
		reqs = append(reqs, r)
	}
	var res AnnounceResult
	for i := range swarms * peers {
		a := PeerAnnounce{InfoHash: hashOf(i % swarms), PeerID: idOf(i / swarms), Addr: v4(i / swarms), NumWant: 0}
		s.store.Announce(context.Background(), &a, &res)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.ServeHTTP(w, reqs[i%len(reqs)])
	}
}

// BenchmarkMemoryStoreAnnounce is the store alone.
func BenchmarkMemoryStoreAnnounce(b *testing.B) {
	s := NewMemoryStore(time.Hour)
	defer s.Close()
	var res AnnounceResult
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		a := PeerAnnounce{InfoHash: hashOf(i % 10000), PeerID: idOf(i % 10), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i % 10)}), 1), NumWant: 50}
		res.Peers = res.Peers[:0]
		s.Announce(context.Background(), &a, &res)
	}
}
