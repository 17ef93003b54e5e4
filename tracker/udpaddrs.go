package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// A UDP tracker's name may have IPv4 and IPv6 addresses of which only some
// answer: a host without a working IPv6 route, a tracker listening on one
// family. UDP gives no connection to fail fast on, so the client tries the
// addresses in turn within the attempt's time, the one that answered last
// first, and remembers which one answered. (HTTP trackers get the same
// from net/http's dialer, which races both families.)

const (
	// maxUDPAddrs bounds the addresses of one name tried in an attempt,
	// so that each keeps a useful share of the attempt's time.
	maxUDPAddrs = 4
	// maxRememberedHosts bounds the cache of addresses that answered.
	maxRememberedHosts = 1024
)

// udpAddrCache remembers, per tracker host, the address that answered.
type udpAddrCache struct {
	mu   sync.Mutex
	good map[string]netip.AddrPort
}

// overUDP runs exchange over a socket connected to one of the tracker's
// addresses after another, the remembered one first, until one works or
// the tracker refuses (a refusal is an answer: the address works). Each
// address but the last gets an equal share of the time left. Only the
// addresses of fam are tried.
func (c *Client) overUDP(ctx context.Context, u *url.URL, fam Family, exchange func(context.Context, *udpConn) error) error {
	addrs, err := c.udpAddrs(ctx, u, fam)
	if err != nil {
		return err
	}
	// Each family remembers its own address that answered.
	key := idKey(u.Host, fam)
	var errs []error
	for i, a := range addrs {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(addrs)-1 {
			actx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(addrs)-i))
		}
		err := c.tryUDPAddr(actx, u.Host, a, exchange)
		cancel()
		if err == nil || errors.Is(err, ErrFailure) {
			c.answered.put(key, a)
			return err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
		if i < len(addrs)-1 {
			c.logger().Debug("udp tracker address did not answer, trying the next", "tracker", u.Host, "addr", a, "err", err)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

func (c *Client) tryUDPAddr(ctx context.Context, host string, a netip.AddrPort, exchange func(context.Context, *udpConn) error) error {
	uc, err := dialUDPAddr(ctx, host, a)
	if err != nil {
		return err
	}
	defer uc.conn.Close()
	return exchange(ctx, uc)
}

// udpAddrs resolves the tracker's host: the addresses of fam to try, in
// order.
func (c *Client) udpAddrs(ctx context.Context, u *url.URL, fam Family) ([]netip.AddrPort, error) {
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return nil, permanent(fmt.Errorf("udp tracker URL %s has no valid port", u.Redacted()))
	}
	ips, err := c.familyAddrs(ctx, u.Hostname(), fam)
	if err != nil {
		return nil, fmt.Errorf("udp tracker %s: %w", u.Host, err)
	}
	addrs := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		addrs = append(addrs, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return orderUDPAddrs(addrs, c.answered.get(idKey(u.Host, fam))), nil
}

// orderUDPAddrs puts good (when one of addrs) first, then alternates the
// families in the resolver's order (RFC 8305), dropping duplicates, at
// most maxUDPAddrs in all.
func orderUDPAddrs(addrs []netip.AddrPort, good netip.AddrPort) []netip.AddrPort {
	var first, v4, v6 []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for _, a := range addrs {
		switch {
		case seen[a]:
		case a == good:
			first = append(first, a)
		case a.Addr().Is4():
			v4 = append(v4, a)
		default:
			v6 = append(v6, a)
		}
		seen[a] = true
	}
	out := first
	// The family the resolver put first leads.
	lead, other := v6, v4
	for _, a := range addrs {
		if a != good {
			if a.Addr().Is4() {
				lead, other = v4, v6
			}
			break
		}
	}
	for i := 0; i < max(len(lead), len(other)); i++ {
		if i < len(lead) {
			out = append(out, lead[i])
		}
		if i < len(other) {
			out = append(out, other[i])
		}
	}
	return out[:min(len(out), maxUDPAddrs)]
}

// get returns the address of host that answered last, if any.
func (a *udpAddrCache) get(host string) netip.AddrPort {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.good[host]
}

// put remembers that addr of host answered.
func (a *udpAddrCache) put(host string, addr netip.AddrPort) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.good == nil {
		a.good = make(map[string]netip.AddrPort)
	}
	if _, ok := a.good[host]; !ok && len(a.good) >= maxRememberedHosts {
		for h := range a.good { // any one: the cache only saves time
			delete(a.good, h)
			break
		}
	}
	a.good[host] = addr
}
