package dht

import (
	"context"
	"time"
)

// Maintenance cadence: every tick pings nodes that went quiet and refreshes
// buckets nobody touched for 15 minutes; the state file is saved every
// saveEvery.
const (
	maintainEvery = time.Minute
	saveEvery     = 5 * time.Minute
	// maxPingsPerTick spreads the pings of a large table over ticks.
	maxPingsPerTick = 32
)

// maintain is the Node's housekeeping goroutine; Close stops it.
func (n *Node) maintain() {
	defer n.wg.Done()
	tick := time.NewTicker(maintainEvery)
	defer tick.Stop()
	lastSave := time.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-tick.C:
			n.housekeep(now)
			if now.Sub(lastSave) >= saveEvery {
				lastSave = now
				if err := n.save(); err != nil {
					n.log.Warn("DHT state not saved", "err", err)
				}
			}
		}
	}
}

func (n *Node) housekeep(now time.Time) {
	ctx, cancel := context.WithTimeout(n.ctx, maintainEvery/2)
	defer cancel()
	n.mu.Lock()
	n.peers.expire(now)
	quiet := n.table.questionable(now)
	stale := n.table.stale(now)
	empty := len(n.table.all()) == 0
	n.mu.Unlock()
	if empty {
		// Every node we knew went away (or we never joined): start over.
		if err := n.Bootstrap(ctx); err != nil {
			n.log.Debug("DHT re-bootstrap failed", "err", err)
		}
		return
	}
	if len(quiet) > maxPingsPerTick {
		quiet = quiet[:maxPingsPerTick]
	}
	done := make(chan struct{}, len(quiet))
	for _, q := range quiet {
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = n.query(ctx, q.Addr, &q.ID, "ping", &queryArgs{}) // the table records the outcome
		}()
	}
	for range quiet {
		<-done
	}
	for _, prefix := range stale {
		if ctx.Err() != nil {
			return
		}
		if _, err := n.lookup(ctx, randomIDInBucket(n.id, prefix), nil, nil); err != nil {
			n.log.Debug("DHT bucket refresh failed", "bucket", prefix, "err", err)
		}
	}
}
