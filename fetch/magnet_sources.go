package fetch

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/torfs/torfs/dht"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
)

// metadataLeft is the "left" we announce while resolving: not zero, so
// trackers send us seeds.
const metadataLeft = 1

// startSources starts asking the trackers and the DHT for peers.
func (r *resolver) startSources(opts TorrentOptions) {
	var tiers [][]string
	for _, tr := range r.m.Trackers {
		tiers = append(tiers, []string{tr})
	}
	tiers = append(tiers, opts.Trackers...)
	if len(tiers) > 0 {
		r.sources = append(r.sources, strconv.Itoa(len(tiers))+" tracker tiers")
		r.tiers = tracker.NewTiers(tiers)
		fams := r.c.announceFamilies()
		reach := newFamilyReach(len(fams))
		for _, fam := range fams {
			r.wg.Add(1)
			go r.trackerLoop(r.tiers, fam, reach)
		}
	}
	for i, node := range r.c.dhtNodes() {
		if i == 0 {
			r.sources = append(r.sources, "the DHT")
		}
		r.wg.Add(1)
		go r.dhtLoop(node, i == 0)
	}
}

// trackerLoop announces over fam until Resolve ends: at the tracker's
// interval, but at least once a minute, since a resolve is short and a
// seed may join meanwhile. A family that reaches no tracker is no
// failure while another does (reach).
func (r *resolver) trackerLoop(tiers *tracker.Tiers, fam tracker.Family, reach *familyReach) {
	defer r.wg.Done()
	cl := r.c.trackerClient(r.c.log)
	req := tracker.AnnounceRequest{
		InfoHash: r.m.InfoHash, PeerID: r.c.cfg.PeerID, Port: r.c.announcePortFor(fam),
		Left: metadataLeft, Event: tracker.EventStarted, NumWant: 50, Key: rand.Uint32(), Family: fam,
	}
	fails := 0
	for {
		resp, _, err := cl.AnnounceTiers(r.ctx, tiers, req)
		wait := time.Minute
		if r.ctx.Err() != nil {
			return
		}
		famErr := errors.Is(err, tracker.ErrFamilyUnreachable)
		if none := reach.note(fam, famErr); famErr && !none {
			// The other family's announces are the ones to report.
			r.c.log.Debug("no tracker reachable over this family", "family", fam, "err", err)
		} else if err != nil {
			fails++
			wait = backoff(fails)
			r.post(func() { r.announces++; r.lastErr = "tracker: " + err.Error() })
		} else {
			fails = 0
			req.Event = tracker.EventNone
			wait = min(max(resp.Interval, minInterval), time.Minute)
			addrs := resp.Peers
			r.post(func() { r.announces++; r.answers++; r.addAddrs(addrs) })
		}
		tm := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

// dhtLoop looks the info-hash up in the DHT until Resolve ends: again
// soon while it finds nothing, then every half minute. Peers are posted
// as each node's reply brings them, so they are dialled while the lookup
// still waits for slow or dead nodes. Only the main node's errors are
// the resolve's last error: the IPv6 node beside it fails on every host
// without IPv6 connectivity.
func (r *resolver) dhtLoop(node *dht.Node, main bool) {
	defer r.wg.Done()
	for {
		found := 0
		err := node.GetPeersFunc(r.ctx, dht.ID(r.m.InfoHash), func(peers []netip.AddrPort) {
			found += len(peers)
			r.post(func() { r.addAddrs(peers) })
		})
		if r.ctx.Err() != nil {
			return
		}
		wait := 30 * time.Second
		if err != nil || found == 0 {
			wait = 5 * time.Second
		}
		r.post(func() {
			r.lookups++
			if err != nil && main {
				r.lastErr = err.Error()
			}
		})
		tm := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			tm.Stop()
			return
		case <-tm.C:
		}
	}
}

// learnNode adds a peer's DHT node (its PORT message) to our table, in
// the background.
func (r *resolver) learnNode(peer net.Addr, port uint16) {
	a, ok := addrPort(peer)
	if !ok || port == 0 {
		return
	}
	node := r.c.dhtFor(a.Addr())
	if node == nil {
		return
	}
	hp := netip.AddrPortFrom(a.Addr(), port).String()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		node.AddNodes(r.ctx, hp)
	}()
}

// maxKeptTrackerIDs bounds the tracker ids kept for torrents resolved but
// not added (torfs info resolves only).
const maxKeptTrackerIDs = 64

// keepTrackerIDs keeps the tracker ids that tiers learned while resolving
// the magnet link of h, so that the torrent's own tiers send them back
// from its first announce: the trackers asked while resolving are the
// magnet's, which the torrent announces to as well.
func (c *Client) keepTrackerIDs(h metainfo.Hash, tiers *tracker.Tiers) {
	if tiers == nil {
		return
	}
	ids := tiers.TrackerIDs()
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trackerIDs == nil {
		c.trackerIDs = make(map[metainfo.Hash]map[string]string)
	}
	if _, ok := c.trackerIDs[h]; !ok && len(c.trackerIDs) >= maxKeptTrackerIDs {
		for old := range c.trackerIDs {
			delete(c.trackerIDs, old)
			break
		}
	}
	c.trackerIDs[h] = ids
}

// takeTrackerIDs returns and forgets the tracker ids kept for h.
func (c *Client) takeTrackerIDs(h metainfo.Hash) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := c.trackerIDs[h]
	delete(c.trackerIDs, h)
	return ids
}
