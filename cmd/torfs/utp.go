package main

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/utp"
)

// utpFlagsHelp is the --no-utp and --no-tcp lines of --help texts.
const utpFlagsHelp = `  --no-utp           peers over TCP only; by default torfs also speaks uTP
                     (BEP 29) on the UDP port of the same number as its
                     TCP port, and shares that socket with its DHT nodes
  --no-tcp           peers over uTP only (a network that passes only UDP,
                     or to measure uTP alone)
`

// listenTransports opens the peer transports of a command: uTP first,
// then TCP, both on the port of listen (":0" picks one free for both).
// With noUTP it is TCP alone, with noTCP uTP alone. The returned socket,
// nil without uTP, is the one the DHT node should share.
func listenTransports(listen string, noUTP, noTCP bool) ([]fetch.Transport, *utp.Socket, error) {
	if noUTP && noTCP {
		return nil, nil, usagef("--no-utp and --no-tcp together leave no way to reach peers")
	}
	if noUTP {
		tcp, err := fetch.ListenTCP(listen)
		if err != nil {
			return nil, nil, err
		}
		return []fetch.Transport{tcp}, nil, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, usagef("--listen %q: %v", listen, err)
	}
	if noTCP {
		n, err := strconv.ParseUint(cmp.Or(port, "0"), 10, 16)
		if err != nil {
			return nil, nil, usagef("--listen %q: port %q is not a number", listen, port)
		}
		sock, err := listenUTP(host, int(n))
		if err != nil {
			return nil, nil, err
		}
		return []fetch.Transport{fetch.NewTransport(fetch.TransportUTP, sock.Dial, sock)}, sock, nil
	}
	// A port of 0 is picked for TCP, then taken on UDP; another program
	// may hold that UDP port, so a few ports are tried.
	tries := 1
	if port == "0" || port == "" {
		tries = 5
	}
	var lastErr error
	for range tries {
		tcp, err := fetch.ListenTCP(listen)
		if err != nil {
			return nil, nil, err
		}
		tcpPort := tcp.Listener().Addr().(*net.TCPAddr).Port
		sock, err := listenUTP(host, tcpPort)
		if err == nil {
			return []fetch.Transport{fetch.NewTransport(fetch.TransportUTP, sock.Dial, sock), tcp}, sock, nil
		}
		tcp.Listener().Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("%w (or give --no-utp for TCP only)", lastErr)
}

// listenUTP opens the uTP socket on host (empty: all addresses, IPv4 and
// IPv6) and port.
func listenUTP(host string, port int) (*utp.Socket, error) {
	addr := netip.IPv6Unspecified()
	if host != "" {
		ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
		if err != nil {
			return nil, fmt.Errorf("uTP: %w", err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("uTP: %q has no address", host)
		}
		addr = ips[0].Unmap()
	}
	sock, err := utp.Listen(netip.AddrPortFrom(addr, uint16(port)))
	if err != nil && host == "" {
		// A kernel without IPv6: all IPv4 addresses, as TCP does then.
		if s4, err4 := utp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port))); err4 == nil {
			return s4, nil
		}
	}
	return sock, err
}
