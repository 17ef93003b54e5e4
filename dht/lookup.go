package dht

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// alpha is how many queries a lookup keeps in flight (Kademlia's α).
const alpha = 3

type candidate struct {
	NodeInfo
	idKnown bool // false for bootstrap addresses until they answer
	queried bool
	replied bool
	pending bool // a query is in flight
	token   string
}

// lookupResult is what an iterative lookup learned.
type lookupResult struct {
	closest []*candidate // nodes that replied, nearest to the target first
	replies int
}

// peerSink hands the peers a lookup finds to a caller's function as
// replies bring them, each peer once.
type peerSink struct {
	seen  map[netip.AddrPort]bool
	found func([]netip.AddrPort)
}

func newPeerSink(found func([]netip.AddrPort)) *peerSink {
	return &peerSink{seen: make(map[netip.AddrPort]bool), found: found}
}

// add passes on the peers of ps not seen before, if any.
func (s *peerSink) add(ps []netip.AddrPort) {
	var fresh []netip.AddrPort
	for _, p := range ps {
		if usable(p) && !s.seen[p] {
			s.seen[p] = true
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		s.found(fresh)
	}
}

// lookup walks the DHT towards target, alpha queries at a time, until the
// bucketSize nearest nodes it knows of have all answered or failed. With
// a peer sink it is a get_peers lookup, which collects tokens and hands
// each reply's peers to the sink at once, while slower nodes are still
// being waited for; otherwise it is a find_node lookup. seeds are
// addresses of unknown ID to query first.
func (n *Node) lookup(ctx context.Context, target ID, sink *peerSink, seeds []netip.AddrPort) (*lookupResult, error) {
	getPeers := sink != nil
	n.mu.Lock()
	start := n.table.closest(target, bucketSize)
	n.mu.Unlock()

	var cands []*candidate // known IDs, sorted by distance
	byAddr := make(map[netip.AddrPort]bool)
	add := func(c *candidate) {
		if byAddr[c.Addr] || c.Addr == n.Addr() {
			return
		}
		byAddr[c.Addr] = true
		if !c.idKnown {
			cands = slices.Insert(cands, 0, c) // seeds go first
			return
		}
		i, _ := slices.BinarySearchFunc(cands, c.ID, func(e *candidate, id ID) int {
			if !e.idKnown {
				return -1
			}
			return cmpDistance(target, e.ID, id)
		})
		cands = slices.Insert(cands, i, c)
	}
	for _, s := range start {
		add(&candidate{NodeInfo: s, idKnown: true})
	}
	for _, s := range seeds {
		add(&candidate{NodeInfo: NodeInfo{Addr: s}})
	}

	type result struct {
		c   *candidate
		r   *reply
		err error
	}
	results := make(chan result)
	inflight := 0
	res := &lookupResult{}
	method := "find_node"
	if getPeers {
		method = "get_peers"
	}
	// next is the nearest candidate not yet queried among the bucketSize
	// nearest that have not failed; nil when those are all done.
	next := func() *candidate {
		live := 0
		for _, c := range cands {
			if c.queried && !c.pending && !c.replied {
				continue // failed
			}
			if !c.queried {
				return c
			}
			if live++; live >= bucketSize {
				return nil
			}
		}
		return nil
	}
	for {
		for inflight < alpha {
			c := next()
			if c == nil {
				break
			}
			c.queried = true
			c.pending = true
			inflight++
			a := &queryArgs{Want: n.wantFamily()}
			if getPeers {
				a.InfoHash = string(target[:])
			} else {
				a.Target = string(target[:])
			}
			var known *ID
			if c.idKnown {
				known = &c.ID
			}
			go func() {
				r, err := n.query(ctx, c.Addr, known, method, a)
				results <- result{c, r, err}
			}()
		}
		if inflight == 0 {
			break
		}
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			for ; inflight > 0; inflight-- {
				<-results // queries end at once with ctx
			}
			return nil, ctx.Err()
		}
		inflight--
		r.c.pending = false
		if r.err != nil {
			if errors.Is(r.err, errClosed) {
				for ; inflight > 0; inflight-- {
					<-results
				}
				return nil, r.err
			}
			n.log.Debug("DHT lookup query failed", "err", r.err)
			continue
		}
		res.replies++
		c := r.c
		c.replied = true
		c.token = r.r.Token
		if !c.idKnown {
			// A seed: now that its ID is known, move it to its place.
			cands = slices.DeleteFunc(cands, func(e *candidate) bool { return e == c })
			delete(byAddr, c.Addr)
			c.ID, c.idKnown = ID([]byte(r.r.ID)), true
			add(c)
		}
		if getPeers {
			var peers []netip.AddrPort
			for _, v := range r.r.Values {
				if p, err := parseCompactPeer([]byte(v)); err == nil {
					peers = append(peers, p)
				}
			}
			sink.add(peers)
		}
		for _, nd := range n.replyNodes(r.r) {
			add(&candidate{NodeInfo: nd, idKnown: true})
		}
		// Keep the candidate list bounded: far nodes would never be
		// queried (byAddr still remembers them).
		if len(cands) > 8*bucketSize {
			cands = cands[:8*bucketSize]
		}
	}
	for _, c := range cands {
		if c.replied {
			res.closest = append(res.closest, c)
		}
	}
	if res.replies == 0 {
		return res, fmt.Errorf("no DHT node answered (%d tried)", countQueried(cands))
	}
	return res, nil
}

func countQueried(cands []*candidate) int {
	k := 0
	for _, c := range cands {
		if c.queried {
			k++
		}
	}
	return k
}
