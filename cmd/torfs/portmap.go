package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/portmap"
)

// portMapFlagsHelp is the --no-port-map line of --help texts.
const portMapFlagsHelp = `  --no-port-map      do not ask the router (UPnP IGD or NAT-PMP) to forward
                     the listening ports from outside; by default torfs
                     does, unless --listen is a loopback address
`

// envPortMapLease, a duration, shortens the lease torfs asks the router
// for, so that a test sees a renewal (integration/portmap_test.go).
const envPortMapLease = "TORFS_PORTMAP_LEASE"

// portMapper is fetch.Config.MapPort for a client listening on listen:
// nil (no mapping) when off or when listen is a loopback address, which
// nobody outside could connect to anyway; so the tests and the demo,
// which listen on loopback, never send a discovery packet off this
// machine. With udp, the UDP port of the same number (uTP, the DHT) is
// forwarded too.
func portMapper(listen string, off, udp bool, log *slog.Logger) func(uint16, func()) fetch.PortMapping {
	if off {
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil // the listener already refused it
	}
	addr, loopback := listenAddr(host)
	if loopback {
		return nil
	}
	var lease time.Duration
	if d, err := time.ParseDuration(os.Getenv(envPortMapLease)); err == nil && d > 0 {
		lease = d
	}
	protos := []portmap.Protocol{portmap.TCP}
	if udp {
		protos = append(protos, portmap.UDP)
	}
	return func(port uint16, changed func()) fetch.PortMapping {
		return portmap.Start(portmap.Options{
			Port: port, Protocols: protos, Lease: lease, Description: "torfs",
			Addr: addr, OnChange: changed, Logger: log,
		})
	}
}

// listenAddr is the address a --listen host names (invalid for all
// addresses), and whether it is on loopback only.
func listenAddr(host string) (addr netip.Addr, loopback bool) {
	if host == "" {
		return netip.Addr{}, false
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
	if err != nil || len(ips) == 0 {
		return netip.Addr{}, false
	}
	loopback = true
	for _, ip := range ips {
		loopback = loopback && ip.Unmap().IsLoopback()
	}
	return ips[0].Unmap(), loopback
}
