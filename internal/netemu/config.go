// Package netemu emulates a wide-area link between two network namespaces,
// the way Linux's netem qdisc would (this kernel has none): it owns a TUN
// device in each namespace and moves IP packets between them with a
// one-way delay, random loss, a rate limit and a bounded queue in each
// direction, counting what it forwarded and what it dropped, and why.
//
// A packet entering a direction departs at max(now, previous departure) +
// size*8/rate and arrives a Delay after that; it is lost with probability
// Loss (a seeded RNG, so runs repeat), and dropped at the tail when Limit
// packets are already held. Delivery is FIFO: no reordering, no
// duplication.
//
// NewWAN makes the two namespaces, their TUN devices and the link between
// them; netemutest.New does it for a test and skips where the machine
// cannot (not root, no /dev/net/tun). Nothing is routed out of the
// namespaces: each holds only lo and its TUN device, addressed in
// 10.77.0.0/24.
package netemu

import (
	"fmt"
	"time"
)

// MTU is the TUN devices' MTU, the largest packet the link carries.
const MTU = 1500

// Config describes one direction of the link; both directions use it.
// The zero value is a perfect link: no delay, no loss, no rate limit, and
// a queue of DefaultLimit packets.
type Config struct {
	// Delay is the one-way propagation delay added to every packet.
	Delay time.Duration
	// Loss is the probability, 0..1, that a packet is lost at random.
	Loss float64
	// Rate is the link's rate in bits per second; 0 = unlimited.
	Rate int64
	// Limit is how many packets a direction holds (queued for the rate
	// or in flight for the delay) before it drops new ones at the tail;
	// 0 = DefaultLimit.
	Limit int
	// Seed seeds the loss RNG of the A->B direction (B->A uses Seed+1).
	Seed uint64
}

// DefaultLimit is the queue limit a zero Config.Limit stands for: netem's
// default.
const DefaultLimit = 1000

// WANDefaults is a long, slightly lossy broadband path: 25 ms each way,
// 0.5% loss, 100 Mbit/s, a queue of 1000 packets.
func WANDefaults() Config {
	return Config{Delay: 25 * time.Millisecond, Loss: 0.005, Rate: 100_000_000, Limit: DefaultLimit, Seed: 1}
}

func (c Config) limit() int {
	if c.Limit <= 0 {
		return DefaultLimit
	}
	return c.Limit
}

func (c Config) validate() error {
	if c.Delay < 0 || c.Loss < 0 || c.Loss > 1 || c.Rate < 0 {
		return fmt.Errorf("netemu: bad link config %+v: delay and rate must not be negative, loss must be within 0..1", c)
	}
	return nil
}

// String is the config as a person would say it.
func (c Config) String() string {
	rate := "unlimited"
	if c.Rate > 0 {
		rate = fmt.Sprintf("%g Mbit/s", float64(c.Rate)/1e6)
	}
	return fmt.Sprintf("%v each way, %g%% loss, %s, queue %d packets", c.Delay, c.Loss*100, rate, c.limit())
}
