package dht

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// errClosed is returned by queries on a closed Node.
var errClosed = errors.New("DHT node is closed")

// query sends one KRPC query to addr and waits for its reply, the reply's
// error, the query timeout or ctx. known is the node's ID when we know it
// (so the table learns of its failure); replies update the routing table.
func (n *Node) query(ctx context.Context, addr netip.AddrPort, known *ID, method string, a *queryArgs) (*reply, error) {
	a.ID = string(n.id[:])
	ch := make(chan *message, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, errClosed
	}
	var key txKey
	for {
		n.nextTx++
		key = txKey{string(binary.BigEndian.AppendUint16(nil, n.nextTx)), addr}
		if n.pending[key] == nil {
			break
		}
	}
	n.pending[key] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.pending, key)
		n.mu.Unlock()
	}()

	if err := n.send(addr, &message{T: key.t, Y: "q", Q: method, A: a}); err != nil {
		return nil, err
	}
	timer := time.NewTimer(n.cfg.QueryTimeout)
	defer timer.Stop()
	select {
	case m := <-ch:
		if m.Y == "e" {
			kerr, _ := decodeError(m.E) // validated by decodeMessage
			return nil, fmt.Errorf("%s to %s: %w", method, addr, kerr)
		}
		var from NodeInfo
		copy(from.ID[:], m.R.ID)
		from.Addr = addr
		if from.ID == n.id {
			return nil, fmt.Errorf("%s to %s: the node answered with our own ID", method, addr)
		}
		n.mu.Lock()
		n.table.seen(from, true, time.Now())
		n.mu.Unlock()
		return m.R, nil
	case <-timer.C:
		if known != nil {
			n.mu.Lock()
			n.table.failed(*known, addr)
			n.mu.Unlock()
		}
		return nil, fmt.Errorf("%s to DHT node %s: no reply within %v", method, addr, n.cfg.QueryTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.ctx.Done():
		return nil, errClosed
	}
}

// Ping asks the node at addr to answer and returns its ID.
func (n *Node) Ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	r, err := n.query(ctx, addr, nil, "ping", &queryArgs{})
	if err != nil {
		return ID{}, err
	}
	return ID([]byte(r.ID)), nil
}

// replyNodes extracts the nodes of our family from a reply, dropping
// unusable addresses.
func (n *Node) replyNodes(r *reply) []NodeInfo {
	nodes, err := parseCompactNodes(r.Nodes, false)
	if n.v6 {
		nodes, err = parseCompactNodes(r.Nodes6, true)
	}
	if err != nil { // decodeMessage checked the lengths
		return nil
	}
	out := nodes[:0]
	for _, c := range nodes {
		if usable(c.Addr) && c.ID != n.id {
			out = append(out, c)
		}
	}
	return out
}

// wantFamily is the BEP 32 "want" for our family: asked explicitly so a
// dual-stack node answers with the nodes we can use.
func (n *Node) wantFamily() []string {
	if n.v6 {
		return []string{"n6"}
	}
	return []string{"n4"}
}
