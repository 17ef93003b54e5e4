package portmap

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
)

// natpmpTimeout bounds one NAT-PMP request with its retransmissions
// (250 ms, doubling: RFC 6886 section 3.1) when ctx has no deadline.
const natpmpTimeout = 4 * time.Second

// NATPMP finds a NAT-PMP (RFC 6886) router at the default gateway of
// this host (from /proc/net/route), asking it for its external address.
// A PCP router answers NAT-PMP too (RFC 6887, appendix A).
func NATPMP() Discoverer {
	return func(ctx context.Context) (Gateway, error) {
		f, err := os.Open("/proc/net/route")
		if err != nil {
			return nil, fmt.Errorf("NAT-PMP: finding the default gateway: %w", err)
		}
		gw, err := defaultGateway(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("NAT-PMP: %w", err)
		}
		g := &natpmpGateway{addr: gw}
		if _, err := g.ExternalIP(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", g, err)
		}
		return g, nil
	}
}

// natpmpGateway is a NAT-PMP router.
type natpmpGateway struct {
	addr netip.Addr
}

func (g *natpmpGateway) String() string { return "NAT-PMP at " + g.addr.String() }

// natpmpCall runs one request of a NAT-PMP client to gw, bounded by ctx. The
// library takes no context: its own timeout, set from ctx's deadline,
// ends the request soon after ctx does.
func natpmpCall[T any](ctx context.Context, gw netip.Addr, req func(*natpmp.Client) (T, error)) (T, error) {
	timeout := natpmpTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, max(time.Until(d), time.Millisecond))
	}
	c := natpmp.NewClientWithTimeout(net.IP(gw.AsSlice()), timeout)
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := req(c)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func natpmpProto(p Protocol) string { return strings.ToLower(string(p)) }

func (g *natpmpGateway) Map(ctx context.Context, proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	r, err := natpmpCall(ctx, g.addr, func(c *natpmp.Client) (*natpmp.AddPortMappingResult, error) {
		return c.AddPortMapping(natpmpProto(proto), int(internal), int(ext), int(lease/time.Second))
	})
	if err != nil {
		return 0, 0, err
	}
	if r.MappedExternalPort == 0 {
		return 0, 0, errors.New("NAT-PMP: the gateway granted no external port")
	}
	return r.MappedExternalPort, time.Duration(r.PortMappingLifetimeInSeconds) * time.Second, nil
}

func (g *natpmpGateway) Unmap(ctx context.Context, proto Protocol, internal, ext uint16) error {
	// RFC 6886 section 3.4: a lifetime and external port of 0 delete
	// the mapping of the internal port.
	_, err := natpmpCall(ctx, g.addr, func(c *natpmp.Client) (*natpmp.AddPortMappingResult, error) {
		return c.AddPortMapping(natpmpProto(proto), int(internal), 0, 0)
	})
	return err
}

func (g *natpmpGateway) ExternalIP(ctx context.Context) (netip.Addr, error) {
	r, err := natpmpCall(ctx, g.addr, func(c *natpmp.Client) (*natpmp.GetExternalAddressResult, error) {
		return c.GetExternalAddress()
	})
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4(r.ExternalIPAddress), nil
}

// defaultGateway reads the IPv4 default route's gateway from the
// kernel's routing table in the format of /proc/net/route.
func defaultGateway(r io.Reader) (netip.Addr, error) {
	const rtfUp, rtfGateway = 0x1, 0x2
	sc := bufio.NewScanner(r)
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue // not a default route (destination and mask 0)
		}
		flags, err := strconv.ParseUint(f[3], 16, 32)
		if err != nil || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway {
			continue
		}
		b, err := hex.DecodeString(f[2])
		if err != nil || len(b) != 4 {
			continue
		}
		// The kernel prints the address as a native-endian (little
		// on every Linux torfs runs on) 32-bit number.
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], binary.LittleEndian.Uint32(b))
		return netip.AddrFrom4(a), nil
	}
	if err := sc.Err(); err != nil {
		return netip.Addr{}, fmt.Errorf("reading the routing table: %w", err)
	}
	return netip.Addr{}, errors.New("this host has no IPv4 default gateway")
}
