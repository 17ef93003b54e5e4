package fetch

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
)

// ResolveStatus is the progress of a metadata lookup.
type ResolveStatus struct {
	Peers     int    // addresses known
	Connected int    // peers connected now
	Have      int    // metadata pieces received
	Total     int    // metadata pieces expected; 0 = size not known yet
	LastError string // why the last attempt failed, for the user
	// Piece hashes of a v2-only torrent, asked for once the metadata is
	// known (BEP 52 hash requests), in parts of up to 512.
	HashParts, HashPartsTotal int
}

// Resolve fetches the info dictionary of a magnet link from its swarm
// (BEP 9), with peers from the link's x.pe and trackers, opts (Trackers,
// Peers) and the Client's DHT, and verifies it against the info-hash. It
// returns the torrent and the peer addresses it found, to pass to
// AddTorrent (TorrentOptions.Peers). progress, when not nil, is called
// from Resolve's goroutine whenever the status changes. When ctx ends
// first, the error wraps ctx.Err() and says what was tried. Every
// connection and goroutine it starts is gone when it returns. A link with
// only a v2 info-hash (urn:btmh) is resolved under that hash truncated to
// 20 bytes, as BEP 52 says, and its metadata checked by SHA-256; a
// v2-only torrent's metadata has no piece layers, so Resolve then asks
// the peers for them as ResolveLayers does, and returns the torrent
// complete.
func (c *Client) Resolve(ctx context.Context, m *metainfo.Magnet, opts TorrentOptions, progress func(ResolveStatus)) (*metainfo.MetaInfo, []string, error) {
	return c.resolve(ctx, m, opts, progress, nil)
}

// resolve is Resolve, or with known set ResolveLayers: the metadata is
// known and only its piece layers are fetched.
func (c *Client) resolve(ctx context.Context, m *metainfo.Magnet, opts TorrentOptions, progress func(ResolveStatus), known *metainfo.MetaInfo) (*metainfo.MetaInfo, []string, error) {
	c.needPortMap()
	if err := c.needDHT(); err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(c.ctx, cancel) // Close ends a Resolve too
	defer stopOnClose()
	r := &resolver{
		c: c, m: m, ctx: rctx, progress: progress,
		events: make(chan func()),
		cands:  map[netip.AddrPort]*resolveCand{},
		conns:  map[*metaConn]struct{}{},
	}
	c.mu.Lock()
	if c.resolving[m.InfoHash] == nil {
		c.resolving[m.InfoHash] = r
		c.serveSKeyLocked(m.InfoHash)
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.resolving[m.InfoHash] == r {
			delete(c.resolving, m.InfoHash)
			c.unserveSKeyLocked(m.InfoHash)
		}
		c.mu.Unlock()
		cancel()
		for mc := range r.conns {
			mc.close()
		}
		r.wg.Wait()
		if r.result != nil {
			c.keepTrackerIDs(m.InfoHash, r.tiers)
		}
	}()
	given, names := splitAddrs(append(slices.Clone(m.Peers), opts.Peers...))
	if len(names) > 0 {
		found, err := lookupAddrs(rctx, names)
		if err != nil {
			r.lastErr = err.Error()
		}
		given = append(given, found...)
	}
	r.addGiven(given)
	r.startSources(opts)
	if known != nil {
		r.startLayers(known)
	}
	mi, err := r.run(ctx)
	if err != nil {
		return nil, nil, err
	}
	return mi, r.found(), nil
}

const (
	// metaPipeline is how many metadata pieces we ask one peer for at once.
	metaPipeline = 4
	// metaRequestTimeout drops a peer that leaves a request unanswered.
	metaRequestTimeout = 20 * time.Second
	// metaIdleTimeout drops a peer that sends nothing at all.
	metaIdleTimeout = 60 * time.Second
	// maxResolveConns bounds the connections of one Resolve.
	maxResolveConns = 30
	// maxResolveFails forgets an address a tracker, the DHT or a peer
	// gave after this many failed attempts. Addresses the user gave
	// (x.pe, --peer) are retried for as long as Resolve runs: a seeder
	// started after the mount must still be found.
	maxResolveFails = 5
)

// candidate states during a Resolve.
const (
	candIdle = iota
	candDialing
	candConnected
	candGone // banned, or failed too often
)

type resolveCand struct {
	state  int
	fails  int
	next   time.Time // no attempt before this
	banned bool      // lied, or is ourselves: never again
	given  bool      // from the user: never forgotten for failing
}

// resolver is the state of one Resolve call. Everything but the fields
// set at construction belongs to the run loop's goroutine: connections
// and sources hand it closures through events.
type resolver struct {
	c        *Client
	m        *metainfo.Magnet
	ctx      context.Context // cancelled when Resolve returns
	progress func(ResolveStatus)
	events   chan func()
	wg       sync.WaitGroup
	sources  []string       // what we ask for peers, for the final error
	tiers    *tracker.Tiers // the trackers asked, if any; they learn tracker ids

	cands     map[netip.AddrPort]*resolveCand
	order     []netip.AddrPort // addresses in the order found
	conns     map[*metaConn]struct{}
	dialing   int
	connected int // connections ever made
	withMeta  int // connections ever made to peers offering the metadata
	lastErr   string
	reported  ResolveStatus
	// What the sources did, for the final error: tracker announces
	// made and answered, DHT lookups made.
	announces, answers, lookups int

	size    int         // metadata size being fetched; 0 = none chosen yet
	pieces  [][]byte    // received pieces
	from    []*metaConn // who sent each piece
	pending map[int]*metaConn
	// layers, once the metadata is known, fetches the piece hashes it
	// lacks (magnet_layers.go).
	layers *layerFetch
	// solo, after a hash failure with pieces from several peers, fetches
	// everything from one peer at a time so the next failure names the
	// liar.
	soloMode bool
	solo     *metaConn

	result *metainfo.MetaInfo
	fatal  error
}

// post runs f on the run loop; it reports false when Resolve has ended.
func (r *resolver) post(f func()) bool {
	select {
	case r.events <- f:
		return true
	case <-r.ctx.Done():
		return false
	}
}

func (r *resolver) run(ctx context.Context) (*metainfo.MetaInfo, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r.dialMore()
		r.request()
		r.requestLayers()
		r.report()
		if r.fatal != nil {
			return nil, r.fatal
		}
		if r.result != nil {
			return r.result, nil
		}
		select {
		case f := <-r.events:
			f()
		case <-tick.C:
			r.expire()
		case <-r.ctx.Done():
			if ctx.Err() == nil {
				return nil, fmt.Errorf("resolving magnet link %s: the client was %w", r.m.InfoHash, ErrClosed)
			}
			return nil, fmt.Errorf("resolving magnet link %s: %s: %w", r.m.InfoHash, r.failure(), ctx.Err())
		}
	}
}

// addAddrs adds peer addresses to try.
func (r *resolver) addAddrs(addrs []netip.AddrPort) {
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if _, ok := r.cands[a]; ok {
			continue
		}
		r.cands[a] = &resolveCand{}
		r.order = append(r.order, a)
	}
}

// addGiven adds addresses the user gave, which failures never remove.
func (r *resolver) addGiven(addrs []netip.AddrPort) {
	r.addAddrs(addrs)
	for _, a := range addrs {
		r.cands[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())].given = true
	}
}

// found returns the addresses worth passing to AddTorrent: every one
// known, but those banned or our own.
func (r *resolver) found() []string {
	var out []string
	for _, a := range r.order {
		if !r.cands[a].banned {
			out = append(out, a.String())
		}
	}
	return out
}

// report calls progress when the status changed.
func (r *resolver) report() {
	s := ResolveStatus{Peers: len(r.cands), LastError: r.lastErr}
	for mc := range r.conns {
		if !mc.closing {
			s.Connected++
		}
	}
	for _, p := range r.pieces {
		if p != nil {
			s.Have++
		}
	}
	s.Total = len(r.pieces)
	if r.layers != nil {
		s.HashParts, s.HashPartsTotal = r.layers.have, len(r.layers.parts)
	}
	if s != r.reported {
		r.reported = s
		if r.progress != nil {
			r.progress(s)
		}
	}
}

// failure says what was tried, for the error when time runs out.
func (r *resolver) failure() string {
	last := ""
	if r.lastErr != "" {
		last = " (last error: " + r.lastErr + ")"
	}
	switch {
	case len(r.cands) == 0 && len(r.sources) == 0:
		return "no peer found: the link has no tracker and no peer address (x.pe), and the DHT is off"
	case len(r.cands) == 0:
		return "no peer found: " + r.tried() + last
	case r.connected == 0:
		return fmt.Sprintf("found %s, could not connect to any%s", plural.Count(len(r.cands), "peer", "peers"), last)
	case r.layers != nil:
		return r.layersFailure(last)
	case r.withMeta == 0:
		return fmt.Sprintf("%s connected, none has the metadata%s", plural.Count(r.connected, "peer", "peers"), last)
	}
	have := 0
	for _, p := range r.pieces {
		if p != nil {
			have++
		}
	}
	return fmt.Sprintf("received %d of %d metadata pieces%s", have, len(r.pieces), last)
}

// tried says what the sources did: how many trackers were asked how
// often and answered, how many DHT lookups ran and how many nodes the
// DHT knows.
func (r *resolver) tried() string {
	var parts []string
	if r.tiers != nil {
		n := 0
		for _, tier := range r.tiers.URLs() {
			n += len(tier)
		}
		answers := "none answered"
		if r.answers > 0 {
			answers = plural.Count(r.answers, "answer", "answers") + " without peers"
		}
		parts = append(parts, fmt.Sprintf("asked %s %s (%s)",
			plural.Count(n, "tracker", "trackers"), plural.Count(r.announces, "time", "times"), answers))
	}
	if nodes := r.c.dhtNodes(); len(nodes) > 0 {
		known := 0
		for _, n := range nodes {
			known += len(n.Nodes())
		}
		parts = append(parts, fmt.Sprintf("looked it up in the DHT (%s, %s known)",
			plural.Count(r.lookups, "lookup", "lookups"), plural.Count(known, "node", "nodes")))
	}
	return strings.Join(parts, " and ")
}
