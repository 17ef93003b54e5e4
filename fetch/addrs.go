package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// splitAddrs parses "host:port" peer addresses: literal IP addresses
// (IPv4 unmapped), and the names to look up.
func splitAddrs(addrs []string) (ips []netip.AddrPort, names []string) {
	for _, a := range addrs {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			ips = append(ips, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		} else {
			names = append(names, a)
		}
	}
	return ips, names
}

// lookupAddrs resolves "host:port" addresses whose host is a name. It
// returns the addresses found and the first error.
func lookupAddrs(ctx context.Context, names []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	var first error
	for _, name := range names {
		aps, err := lookupAddr(ctx, name)
		if err != nil && first == nil {
			first = err
		}
		out = append(out, aps...)
	}
	return out, first
}

func lookupAddr(ctx context.Context, name string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(name)
	if err != nil {
		return nil, fmt.Errorf("peer address %q: %w", name, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("peer address %q: bad port", name)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("looking up peer %s: %w", name, err)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// addrStrings turns peer addresses into "host:port" strings.
func addrStrings(peers []netip.AddrPort) []string {
	addrs := make([]string, 0, len(peers))
	for _, a := range peers {
		addrs = append(addrs, a.String())
	}
	return addrs
}
