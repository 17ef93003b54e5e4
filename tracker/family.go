package tracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
)

// A dual-stack client announces over each address family it listens on
// (BEP 7, as libtorrent announces per listen socket): a tracker sees the
// address an announce comes from, so one announce over IPv4 tells it
// nothing of our IPv6 address, and a tracker answering over one family
// may only know that family's peers. AnnounceRequest.Family restricts an
// announce to the tracker's addresses of one family.

// Family is the IP address family an announce is restricted to.
type Family int

// Families. AnyFamily uses whichever of the tracker's addresses answers.
const (
	AnyFamily Family = iota
	IPv4
	IPv6
)

// String returns "IPv4", "IPv6" or "any family".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "any family"
}

// has reports whether ip is of family f.
func (f Family) has(ip netip.Addr) bool {
	switch f {
	case IPv4:
		return ip.Unmap().Is4()
	case IPv6:
		return !ip.Unmap().Is4()
	}
	return true
}

// ErrFamilyUnreachable is wrapped by the error of an announce restricted
// to one family when the tracker has no address of that family, or this
// host no route to it: a dual-stack client's other family may still
// work, so it is not a tracker failure to warn of.
var ErrFamilyUnreachable = errors.New("not reachable over this address family")

// familyError wraps err, an announce's failure over fam, in
// ErrFamilyUnreachable when it says that fam cannot reach the tracker.
func familyError(fam Family, err error) error {
	if fam == AnyFamily || err == nil || errors.Is(err, ErrFamilyUnreachable) {
		return err
	}
	if onlyFamilyErrnos(err) {
		return permanent(fmt.Errorf("%w over %s: %w", ErrFamilyUnreachable, fam, err))
	}
	return err
}

// onlyFamilyErrnos reports whether err says that the address family has
// no route (ENETUNREACH, EADDRNOTAVAIL, EAFNOSUPPORT) and nothing else:
// of the dials to each of a host's addresses (errors joined), every one
// must have failed so. errors.Is would match a join where one address
// lacks a route and another refused the connection or timed out, which
// are the tracker's failures to report.
func onlyFamilyErrnos(err error) bool {
	switch e := err.(type) {
	case syscall.Errno:
		return e == syscall.ENETUNREACH || e == syscall.EADDRNOTAVAIL || e == syscall.EAFNOSUPPORT
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, err := range errs {
			if !onlyFamilyErrnos(err) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return onlyFamilyErrnos(e.Unwrap())
	}
	return false
}

// lookup resolves host, a name or an address literal, to its addresses.
func (c *Client) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	lookup := c.LookupHost
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ips, err := lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("the name %s has no address", host)
	}
	return ips, nil
}

// familyAddrs returns host's addresses of family fam, or an error
// wrapping ErrFamilyUnreachable when it has none.
func (c *Client) familyAddrs(ctx context.Context, host string, fam Family) ([]netip.Addr, error) {
	ips, err := c.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range ips {
		if fam.has(ip) {
			out = append(out, ip.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, permanent(fmt.Errorf("tracker %s has no %s address: %w", host, fam, ErrFamilyUnreachable))
	}
	return out, nil
}

// familyHTTP returns the HTTP client that reaches trackers over fam only:
// c.HTTP's settings (or the default ones) with a dialer that connects to
// the host's addresses of fam (as c.LookupHost gives them), and no idle
// connections kept (a tracker is announced to every half hour).
func (c *Client) familyHTTP(fam Family) *http.Client {
	if fam == AnyFamily && c.LookupHost == nil {
		return c.httpClient()
	}
	f := &c.families[fam]
	f.once.Do(func() {
		base := c.httpClient()
		tr, ok := base.Transport.(*http.Transport)
		if !ok || tr == nil {
			tr = http.DefaultTransport.(*http.Transport)
		}
		tr = tr.Clone()
		tr.DisableKeepAlives = true
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := c.familyAddrs(ctx, host, fam)
			if err != nil {
				return nil, err
			}
			var errs []error
			for _, ip := range ips {
				conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
				if err == nil {
					return conn, nil
				}
				errs = append(errs, err)
				if ctx.Err() != nil {
					break
				}
			}
			return nil, errors.Join(errs...)
		}
		hc := *base
		hc.Transport = tr
		f.client = &hc
	})
	return f.client
}
