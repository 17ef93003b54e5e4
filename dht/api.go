package dht

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Bootstrap joins the network: it resolves the Config.Bootstrap nodes
// and walks the DHT towards our own ID, which fills the routing table
// with our neighbours (and them with us). It fails when no node answered.
func (n *Node) Bootstrap(ctx context.Context) error {
	seeds := n.resolve(ctx, n.cfg.Bootstrap)
	if len(seeds) == 0 && len(n.Nodes()) == 0 {
		return errors.New("DHT bootstrap: no bootstrap node could be resolved and the routing table is empty")
	}
	if _, err := n.lookup(ctx, n.id, nil, seeds); err != nil {
		return fmt.Errorf("DHT bootstrap: %w", err)
	}
	return nil
}

// resolve turns "host:port" strings into addresses of our family;
// failures are logged, not fatal: one dead router must not stop the rest.
func (n *Node) resolve(ctx context.Context, hostports []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, hp := range hostports {
		host, portStr, err := net.SplitHostPort(hp)
		if err != nil {
			n.resolveLog.failed(n.log, "ignoring DHT bootstrap node", hp, err)
			continue
		}
		port, err := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
		if err != nil || port <= 0 || port > 65535 {
			n.resolveLog.failed(n.log, "ignoring DHT bootstrap node: bad port", hp, err)
			continue
		}
		lookup := n.cfg.lookupIP
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		ips, err := lookup(ctx, host)
		if err != nil {
			n.resolveLog.failed(n.log, "cannot resolve DHT bootstrap node", hp, err)
			continue
		}
		n.resolveLog.resolved(n.log, hp)
		for _, ip := range ips {
			ip = ip.Unmap()
			if ip.Is6() == n.v6 {
				out = append(out, netip.AddrPortFrom(ip, uint16(port)))
			}
		}
	}
	return out
}

// GetPeers looks up the peers that announced infoHash, from the nodes
// nearest to it (and from our own store, when we are one of them). It
// returns when the lookup ends, which a node that never answers delays by
// Config.QueryTimeout; GetPeersFunc hands peers over as they come.
func (n *Node) GetPeers(ctx context.Context, infoHash ID) ([]netip.AddrPort, error) {
	var peers []netip.AddrPort
	err := n.GetPeersFunc(ctx, infoHash, func(ps []netip.AddrPort) { peers = append(peers, ps...) })
	return peers, err
}

// GetPeersFunc is GetPeers handing the peers to found as they come: our
// own store's first, then each node's as its reply arrives, every peer
// once. found runs on the caller's goroutine, one call at a time, while
// the lookup waits for the other nodes; it should not block for long.
// The error is the lookup's, when no node answered.
func (n *Node) GetPeersFunc(ctx context.Context, infoHash ID, found func([]netip.AddrPort)) error {
	sink := newPeerSink(found)
	n.mu.Lock()
	local := n.peers.get(infoHash, n.v6, maxValues, time.Now())
	n.mu.Unlock()
	sink.add(local)
	if _, err := n.lookup(ctx, infoHash, sink, n.seedsIfEmpty(ctx)); err != nil {
		return fmt.Errorf("DHT get_peers %s: %w", infoHash, err)
	}
	return nil
}

// Announce tells the nodes nearest to infoHash that we have it, reachable
// on TCP port; port 0 asks them to use our UDP port instead (implied_port).
// It returns the peers the lookup found on the way, and fails when no
// node accepted the announce.
func (n *Node) Announce(ctx context.Context, infoHash ID, port int) ([]netip.AddrPort, error) {
	var peers []netip.AddrPort
	err := n.AnnounceFunc(ctx, infoHash, port, func(ps []netip.AddrPort) { peers = append(peers, ps...) })
	return peers, err
}

// AnnounceFunc is Announce handing the peers its lookup finds to found as
// they come, as GetPeersFunc does.
func (n *Node) AnnounceFunc(ctx context.Context, infoHash ID, port int, found func([]netip.AddrPort)) error {
	if port < 0 || port > 65535 {
		return fmt.Errorf("DHT announce: port %d out of range", port)
	}
	res, err := n.lookup(ctx, infoHash, newPeerSink(found), n.seedsIfEmpty(ctx))
	if err != nil {
		return fmt.Errorf("DHT announce %s: %w", infoHash, err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		lastErr  error
	)
	sent := 0
	for _, c := range res.closest {
		if sent == bucketSize {
			break
		}
		if c.token == "" {
			continue
		}
		sent++
		a := &queryArgs{InfoHash: string(infoHash[:]), Port: int64(port), Token: c.token}
		if port == 0 {
			a.ImpliedPort = 1
		}
		wg.Go(func() {
			_, err := n.query(ctx, c.Addr, &c.ID, "announce_peer", a)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = err
				return
			}
			accepted++
		})
	}
	wg.Wait()
	if accepted == 0 {
		if lastErr == nil {
			lastErr = errors.New("no node near it gave a token")
		}
		return fmt.Errorf("DHT announce %s: no node accepted it: %w", infoHash, lastErr)
	}
	return nil
}

// seedsTTL is how long seedsIfEmpty reuses the bootstrap nodes it
// resolved.
const seedsTTL = time.Minute

// seedsIfEmpty returns the bootstrap nodes when the routing table is
// empty, so a lookup before Bootstrap still has somewhere to start. The
// names are resolved at most once per seedsTTL: a node that stays empty
// (offline, or the IPv6 node of a host without IPv6 routes) would have
// every lookup of every torrent ask DNS again. One caller resolves, out
// of the lock, under its own context; the others wait for it under
// theirs, so a slow DNS holds up no caller past its own deadline (nor a
// torrent's Close, which cancels its lookups).
func (n *Node) seedsIfEmpty(ctx context.Context) []netip.AddrPort {
	if len(n.Nodes()) > 0 {
		return nil
	}
	n.seedsMu.Lock()
	for {
		if !n.seedsAt.IsZero() && time.Since(n.seedsAt) < seedsTTL {
			seeds := n.seeds
			n.seedsMu.Unlock()
			return seeds
		}
		busy := n.seedsBusy
		if busy == nil {
			break
		}
		n.seedsMu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil
		}
		n.seedsMu.Lock()
	}
	busy := make(chan struct{})
	n.seedsBusy = busy
	n.seedsMu.Unlock()

	now := time.Now()
	seeds := n.resolve(ctx, n.cfg.Bootstrap)
	n.seedsMu.Lock()
	defer n.seedsMu.Unlock()
	n.seedsBusy = nil
	close(busy)
	if ctx.Err() == nil { // else cut short: not what the names resolve to
		n.seeds, n.seedsAt = seeds, now
	}
	return seeds
}

// AddNodes pings "host:port" nodes (e.g. a torrent's "nodes" list) and
// adds those that answer to the routing table. It returns how many
// answered.
func (n *Node) AddNodes(ctx context.Context, hostports ...string) int {
	addrs := n.resolve(ctx, hostports)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
	)
	for _, a := range addrs {
		wg.Go(func() {
			if _, err := n.Ping(ctx, a); err == nil { // query() records it in the table
				mu.Lock()
				answered++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return answered
}
