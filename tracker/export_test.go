package tracker

import (
	"context"
	"net/netip"
)

// SetLookupHost makes c resolve tracker names with lookup.
func SetLookupHost(c *Client, lookup func(ctx context.Context, host string) ([]netip.Addr, error)) {
	c.LookupHost = lookup
}
