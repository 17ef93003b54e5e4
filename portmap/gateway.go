package portmap

import (
	"context"
	"net/netip"
	"time"
)

// Protocol is the transport protocol of a mapping.
type Protocol string

// The protocols a Mapper forwards.
const (
	TCP Protocol = "TCP"
	UDP Protocol = "UDP"
)

// Gateway is a router that forwards ports from outside to this host:
// a UPnP Internet Gateway Device or a NAT-PMP router. Its methods are
// called from one goroutine at a time.
type Gateway interface {
	// Map asks the gateway to forward external port ext of proto (a
	// wish: the gateway may grant another) to port internal of this
	// host for lease. It returns the external port and the lease
	// granted, 0 for a mapping that lasts until removed.
	Map(ctx context.Context, proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error)
	// Unmap removes the mapping of external port ext of proto to port
	// internal.
	Unmap(ctx context.Context, proto Protocol, internal, ext uint16) error
	// ExternalIP is the gateway's address on the outside.
	ExternalIP(ctx context.Context) (netip.Addr, error)
	// String names the protocol and the gateway, e.g.
	// "UPnP IGD at 192.168.1.1".
	String() string
}

// Discoverer finds a gateway, or says why it found none. It returns
// once it knows, or when ctx ends.
type Discoverer func(ctx context.Context) (Gateway, error)
