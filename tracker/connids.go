package tracker

import (
	"sync"
	"time"
)

// connIDCache remembers UDP connection ids per tracker address (a
// tracker ties an id to the client address it came from, which differs
// by family), so an announce costs one round trip instead of two.
type connIDCache struct {
	mu  sync.Mutex
	ids map[string]connIDEntry
}

type connIDEntry struct {
	id      uint64
	expires time.Time
}

func (c *Client) cachedConnID(host string) (uint64, bool) {
	c.ids.mu.Lock()
	defer c.ids.mu.Unlock()
	e, ok := c.ids.ids[host]
	if !ok || time.Now().After(e.expires) {
		return 0, false
	}
	return e.id, true
}

func (c *Client) storeConnID(host string, id uint64) {
	c.ids.mu.Lock()
	defer c.ids.mu.Unlock()
	if c.ids.ids == nil {
		c.ids.ids = make(map[string]connIDEntry)
	}
	now := time.Now()
	for h, e := range c.ids.ids { // keep the cache from growing without bound
		if now.After(e.expires) {
			delete(c.ids.ids, h)
		}
	}
	c.ids.ids[host] = connIDEntry{id: id, expires: now.Add(udpConnIDLifetime)}
}

// dropConnID forgets id for host and reports whether it was cached.
func (c *Client) dropConnID(host string, id uint64) bool {
	c.ids.mu.Lock()
	defer c.ids.mu.Unlock()
	e, ok := c.ids.ids[host]
	if ok && e.id == id {
		delete(c.ids.ids, host)
	}
	return ok && e.id == id
}
