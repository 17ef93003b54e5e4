package dht

import (
	"net/netip"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// maxLimitedIPs bounds the rate limiter's memory; the least recently
// heard IPs are forgotten first (and start again with a full bucket).
const maxLimitedIPs = 4096

// limiter is a token bucket per source IP. It is used only by the
// Node's read loop.
type limiter struct {
	rate, burst float64
	ips         *lru.Cache[netip.Addr, *tokenBucket]
}

type tokenBucket struct {
	level float64
	last  time.Time
}

// newLimiter allows rate queries per second per IP, burst at once; rate
// <= 0 allows everything.
func newLimiter(rate float64, burst int) *limiter {
	c, _ := lru.New[netip.Addr, *tokenBucket](maxLimitedIPs) // size > 0 never fails
	return &limiter{rate: rate, burst: float64(max(burst, 1)), ips: c}
}

func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	b, ok := l.ips.Get(ip)
	if !ok {
		b = &tokenBucket{level: l.burst, last: now}
		l.ips.Add(ip, b)
	}
	b.level = min(l.burst, b.level+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.level < 1 {
		return false
	}
	b.level--
	return true
}
