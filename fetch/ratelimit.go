package fetch

import (
	"context"
	"sync"
	"time"
)

// rateLimiter is a token bucket shared by all connections of a Client. A
// nil *rateLimiter (rate 0) never waits.
type rateLimiter struct {
	rate  float64 // bytes per second
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newRateLimiter(rate int64) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	// A burst of a quarter second (at least a few blocks) keeps the
	// limit smooth without starving fast links of whole messages.
	burst := max(float64(rate)/4, 4*float64(maxRequestLen))
	return &rateLimiter{rate: float64(rate), burst: burst, tokens: burst, last: time.Now()}
}

// wait blocks until n bytes may pass or ctx ends.
func (l *rateLimiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens -= float64(n) // may go negative: the debt is the wait
	debt := -l.tokens
	l.mu.Unlock()
	if debt <= 0 {
		return nil
	}
	tm := time.NewTimer(time.Duration(debt / l.rate * float64(time.Second)))
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
