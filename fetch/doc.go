// Package fetch is the swarm engine: it downloads torrents from peers and
// uploads to them. A Client owns its transports (TCP, and uTP when
// given: Config.Transports) and their listeners, the peer id, the DHT
// nodes (one, or an IPv4 and an IPv6 one: DHTConfig.Conn6) and the
// sessions; each Torrent owns one swarm (peer
// connections, piece picker, choker, request pipelines, hash checks, bans
// and tracker announces) and stores pieces in a Storage. Readers turn
// reads of the torrent's byte space into prioritized demands and wait for
// verified data.
//
// # Goroutines
//
// A Client runs an accept loop per listener, and a goroutine per
// incoming connection for its handshakes. Each Torrent runs:
//   - loop, the session's clock: rates, pipelines, snubs, the choker
//     and dialing new candidates (each dial on a goroutine of its own,
//     which races one goroutine per transport: dialFirst, then runs the
//     handshakes, the encrypted one of package mse first unless
//     Config.Encryption is off or the peer answered only in plaintext
//     before: encryption.go, plaintext.go);
//   - two hashWorkers, which verify written pieces outside the lock;
//   - the writer's shard goroutines (writeLoop), which store received
//     runs of blocks, the runs of one piece always in one shard and in
//     order;
//   - evictLoop, which applies the storage's eviction reports;
//   - announceLoop, the DHT loop, the PEX loop and web seed workers,
//     when the torrent has those sources;
//   - per peer, a readLoop that decodes and handles messages and a
//     writeLoop that sends queued messages and serves upload requests.
//
// Torrent.Close cancels the session's context and waits for all of them.
//
// # Locks
//
// One lock per torrent, t.mu, guards the session's state: pieces,
// availability, peers and their protocol state, readers' demands. Message
// handlers, the picker, the choker and the clock all run with it held,
// and never block on the network while holding it: hashing, storage
// writes and reads, and socket writes happen outside it. (One call into
// the storage does run under it: Storage.Reserve, from the picker, which
// may punch the holes of the pieces it evicts.) Below it, in this order,
// are taken only briefly:
//   - p.wmu, one peer's output queue and write accounting;
//   - c.mu, the Client's tables (torrents, resolvers, connection count),
//     never held while calling into a Torrent;
//   - the eviction queue's lock: the storage may report an eviction
//     from a call made with t.mu held, so a report only queues the piece
//     and whoever holds t.mu next applies it.
//
// Functions whose comment says "Called with t.mu held" rely on the
// caller for it.
//
// # Resolving magnet links
//
// Client.Resolve runs one resolver: an event loop (resolver.run) that
// alone owns the resolver's state. Dialers, connections and sources
// (trackers, the DHT, incoming peers) never touch that state; they post
// closures to the loop (resolver.post), which runs them in order. The
// loop requests metadata pieces, verifies the assembled info dictionary
// against the info-hash and returns it, closing every connection it
// opened.
package fetch
