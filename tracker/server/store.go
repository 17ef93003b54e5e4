package server

import (
	"context"
	"net/netip"

	"github.com/torfs/torfs/tracker"
)

// Store keeps the swarms: which peers announced which info-hash lately.
// Implementations expire peers that stop announcing and release a
// swarm's memory when its last peer goes. They must be safe for
// concurrent use.
type Store interface {
	// Announce applies a peer's announce to its swarm and fills res with
	// the swarm's counts (after the announce) and up to a.NumWant other
	// peers. res.Peers is appended to, so callers can reuse its storage.
	Announce(ctx context.Context, a *PeerAnnounce, res *AnnounceResult) error
	// Scrape returns the counts of each swarm in hashes, in order; a swarm
	// the store does not know has zero counts.
	Scrape(ctx context.Context, hashes [][20]byte, out []tracker.ScrapeStats) error
	// Stats totals every swarm, for metrics and /stats.
	Stats(ctx context.Context) (StoreStats, error)
	// Close stops the store's background work and releases it.
	Close() error
}

// PeerAnnounce is one announce as a Store sees it: already validated and
// with the peer's address decided.
type PeerAnnounce struct {
	InfoHash, PeerID [20]byte
	// Addr is where other peers can reach this one.
	Addr   netip.AddrPort
	Event  tracker.Event
	Seeder bool // left == 0
	// NumWant is how many peers to return, already bounded.
	NumWant int
	// SameFamily limits the returned peers to Addr's address family (a
	// UDP answer can only carry one); otherwise both families come back.
	SameFamily bool
}

// Peer is one entry of a swarm as returned to an announcing peer.
type Peer struct {
	ID   [20]byte
	Addr netip.AddrPort
}

// AnnounceResult is a swarm's answer to an announce.
type AnnounceResult struct {
	Complete   int // seeders
	Incomplete int // leechers
	Downloaded int // "completed" events seen
	Peers      []Peer
}

// StoreStats are totals over all swarms.
type StoreStats struct {
	Swarms   int
	Seeders  int
	Leechers int
}
