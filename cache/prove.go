package cache

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Prove hashes what is on disk for piece p. It returns true if p is (now)
// verified. An unproven piece that fails is dropped. A missing piece is
// hashed too when the cache keeps everything (its range may
// hold data written before a crash); when evicting, a missing piece holds
// nothing and Prove returns false. A piece being written returns false.
func (c *Cache) Prove(p int) (bool, error) {
	if p < 0 || p >= len(c.pieces) {
		return false, fmt.Errorf("cache: piece %d out of range (torrent has %d pieces)", p, len(c.pieces))
	}
	c.mu.Lock()
	for {
		if c.closed {
			c.mu.Unlock()
			return false, ErrClosed
		}
		pc := &c.pieces[p]
		switch pc.state {
		case stateVerified:
			c.mu.Unlock()
			return true, nil
		case stateUnproven:
			c.unproven--
			c.lruRemove(p)
			pc.state = stateProving
			c.mu.Unlock()
			return c.check(p, stateProving, nil)
		case stateMissing:
			if !c.keepAll {
				c.mu.Unlock()
				return false, nil
			}
			// Nothing is evicted or punched when everything is kept, so
			// charging the piece needs no reservation.
			pc.state = stateProving
			c.charge(c.footprint[p])
			c.mu.Unlock()
			return c.check(p, stateProving, nil)
		case stateWriting:
			c.mu.Unlock()
			return false, nil
		case stateVerifying, stateProving, stateDropping:
			c.changed.Wait()
		}
	}
}

// ProveAll proves every unproven piece, hashing on all CPUs, and calls
// progress (if not nil, never concurrently) after each piece with the
// number done and the total. It stops early with ctx's error.
func (c *Cache) ProveAll(ctx context.Context, progress func(done, total int)) error {
	c.mu.Lock()
	var todo []int
	for p := range c.pieces {
		if c.pieces[p].state == stateUnproven {
			todo = append(todo, p)
		}
	}
	c.mu.Unlock()

	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		progMu sync.Mutex
		done   int
		errMu  sync.Mutex
		first  error
	)
	for range min(runtime.GOMAXPROCS(0), len(todo)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				if _, err := c.Prove(todo[i]); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				}
				if progress != nil {
					progMu.Lock()
					done++
					progress(done, len(todo))
					progMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cache: checking data: %w", err)
	}
	return first
}
