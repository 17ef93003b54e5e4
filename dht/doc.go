// Package dht is a node of the BitTorrent Mainline DHT (BEP 5): it finds
// the peers of a torrent by its info-hash without a tracker, and tells the
// network that this client has one.
//
// A Node speaks KRPC over one UDP socket as client and server (ping,
// find_node, get_peers, announce_peer), keeps a Kademlia routing table of
// 160 buckets of 8 nodes with liveness and refresh, hands out tokens keyed
// to the querier's IP from a secret that rotates every 5 minutes, stores
// announced peers for 30 minutes, rate-limits incoming queries per source
// IP, and can save its table to a file so the next start need not
// bootstrap from scratch. A node on an IPv6 socket speaks BEP 32 (nodes6);
// a dual-stack host runs an IPv4 and an IPv6 node (Config.IPv6 for the
// IPv6 side of one shared socket), each with its own table, and each
// answers a "want" of both families from its Config.Sibling's table too.
//
// Every incoming packet is validated strictly (bencode bounds, types,
// lengths, transaction ids) before anything acts on it; an invalid packet is
// dropped.
//
//	n, err := dht.New(dht.Config{Addr: "0.0.0.0:6881", StateFile: "dht.state"})
//	if err != nil { ... }
//	defer n.Close()
//	if err := n.Bootstrap(ctx); err != nil { ... }
//	peers, err := n.GetPeers(ctx, infoHash)
//	peers, err = n.Announce(ctx, infoHash, 6881)
//
// GetPeers and Announce return when their lookup ends, which a node that
// never answers delays by the query timeout; GetPeersFunc and
// AnnounceFunc hand the peers over as each node's reply brings them.
package dht
