package dht

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// serve answers one validated query.
func (n *Node) serve(m *message, from netip.AddrPort) {
	a := m.A
	var querier NodeInfo
	copy(querier.ID[:], a.ID)
	querier.Addr = from
	now := time.Now()
	// The other family's nodes, when wanted, are taken before n.mu, so
	// that no node holds its lock while it waits for the other's.
	var other []byte
	if sib := n.sibling.Load(); sib != nil && wants(a.Want, from, sib.v6) {
		switch t := cmp.Or(a.Target, a.InfoHash); {
		case len(t) == 20 && (m.Q == "find_node" || m.Q == "get_peers"):
			other = sib.closestCompact(ID([]byte(t)))
		}
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if m.RO == 0 && querier.ID != n.id {
		n.table.seen(querier, false, now)
	}
	r := &reply{ID: string(n.id[:])}
	switch m.Q {
	case "ping":
	case "find_node":
		if len(a.Target) != 20 {
			n.replyError(m.T, from, errProtocol, "find_node needs a 20-byte target")
			return
		}
		n.addNodes(r, ID([]byte(a.Target)), from, a.Want, other)
	case "get_peers":
		if len(a.InfoHash) != 20 {
			n.replyError(m.T, from, errProtocol, "get_peers needs a 20-byte info_hash")
			return
		}
		ih := ID([]byte(a.InfoHash))
		r.Token = n.tokens.issue(from.Addr(), now)
		for _, p := range n.peers.get(ih, n.v6, maxValues, now) {
			r.Values = append(r.Values, string(appendCompactPeer(nil, p)))
		}
		if len(r.Values) == 0 {
			n.addNodes(r, ih, from, a.Want, other)
		}
	case "announce_peer":
		if len(a.InfoHash) != 20 {
			n.replyError(m.T, from, errProtocol, "announce_peer needs a 20-byte info_hash")
			return
		}
		port := from.Port()
		if a.ImpliedPort == 0 {
			if a.Port <= 0 || a.Port > 65535 {
				n.replyError(m.T, from, errProtocol, "announce_peer needs a port from 1 to 65535")
				return
			}
			port = uint16(a.Port)
		}
		if !n.tokens.valid(a.Token, from.Addr(), now) {
			n.replyError(m.T, from, errProtocol, "bad token")
			return
		}
		if !n.peers.add(ID([]byte(a.InfoHash)), netip.AddrPortFrom(from.Addr(), port), now) {
			n.replyError(m.T, from, errServer, "peer store full")
			return
		}
	default:
		n.replyError(m.T, from, errMethod, "method unknown")
		return
	}
	if err := n.send(from, &message{T: m.T, Y: "r", R: r}); err != nil {
		n.log.Debug("DHT reply not sent", "to", from, "err", err)
	}
}

// addNodes puts the nodes closest to target in r: "nodes" and/or "nodes6"
// as the querier wants (BEP 32), by default in the family it used. Our
// table holds one family, the socket's; other is the compact nodes of the
// sibling's, when the querier wants them.
func (n *Node) addNodes(r *reply, target ID, from netip.AddrPort, want []string, other []byte) {
	if wants(want, from, n.v6) {
		setNodes(r, n.v6, n.compactClosest(target))
	}
	if other != nil {
		setNodes(r, !n.v6, other)
	}
}

func setNodes(r *reply, v6 bool, b []byte) {
	if v6 {
		r.Nodes6 = string(b)
	} else {
		r.Nodes = string(b)
	}
}

// wants reports whether a querier from from asks for nodes of the family
// v6: as its "want" says, by default the family it used.
func wants(want []string, from netip.AddrPort, v6 bool) bool {
	if len(want) == 0 {
		return from.Addr().Is6() == v6
	}
	if v6 {
		return slices.Contains(want, "n6")
	}
	return slices.Contains(want, "n4")
}

// closestCompact is the compact nodes of our table closest to target.
func (n *Node) closestCompact(target ID) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.compactClosest(target)
}

// compactClosest is closestCompact for a caller holding n.mu.
func (n *Node) compactClosest(target ID) []byte {
	var b []byte
	for _, c := range n.table.closest(target, bucketSize) {
		b = appendCompactNode(b, c)
	}
	return b
}

// replyError sends a KRPC error; the caller holds n.mu.
func (n *Node) replyError(t string, to netip.AddrPort, code int64, msg string) {
	b, err := encodeError(t, code, msg)
	if err == nil {
		err = n.sendRaw(to, b)
	}
	if err != nil {
		n.log.Debug("DHT error reply not sent", "to", to, "err", err)
	}
}
