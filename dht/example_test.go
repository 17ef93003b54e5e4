package dht_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/torfs/torfs/dht"
)

// Two nodes on loopback form a tiny private DHT: one announces that it
// has a torrent on TCP port 6881, the other finds it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Bootstrap: []string{} means no bootstrap nodes (the first node of a
	// network); nil would mean the public routers.
	a, err := dht.New(dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{}})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := dht.New(dht.Config{Addr: "127.0.0.1:0", Bootstrap: []string{a.Addr().String()}})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.Bootstrap(ctx); err != nil {
		log.Fatal(err)
	}

	var infoHash dht.ID // the torrent's info-hash
	copy(infoHash[:], "an example info-hash")
	if _, err := b.Announce(ctx, infoHash, 6881); err != nil {
		log.Fatal(err)
	}
	peers, err := a.GetPeers(ctx, infoHash)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range peers {
		fmt.Println(p.Port(), p.Addr() == netip.MustParseAddr("127.0.0.1"))
	}
	// Output: 6881 true
}
