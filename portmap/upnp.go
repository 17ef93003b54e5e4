package portmap

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnP error codes (UPnP IGD WANIPConnection) a gateway is treated
// differently for.
const (
	upnpConflict      = 718 // ConflictInMappingEntry: another host has the port
	upnpOnlyPermanent = 725 // OnlyPermanentLeasesSupported
)

// igdService is what a UPnP gateway's WAN connection service offers
// for port mappings; WANIPConnection 1 and 2 and WANPPPConnection 1 of
// goupnp all have it.
type igdService interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, leaseSeconds uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
}

// UPnP finds a UPnP Internet Gateway Device by an SSDP search on every
// IPv4 interface (multicast to 239.255.255.250:1900). Its mappings
// forward to addr, or, when addr is unspecified or invalid, to the
// address the device answered on; description labels them in the
// device's table.
func UPnP(addr netip.Addr, description string) Discoverer {
	return func(ctx context.Context) (Gateway, error) {
		// An IGD answers a search for its own version; some version 2
		// devices ignore one for version 1.
		targets := []string{"urn:schemas-upnp-org:device:InternetGatewayDevice:2", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"}
		found := make([][]goupnp.MaybeRootDevice, len(targets))
		errs := make([]error, len(targets))
		var wg sync.WaitGroup
		for i, st := range targets {
			wg.Go(func() { found[i], errs[i] = goupnp.DiscoverDevicesCtx(ctx, st) })
		}
		wg.Wait()
		for _, devs := range found {
			for _, d := range devs {
				if d.Root == nil {
					continue
				}
				svc := wanService(d)
				if svc == nil {
					continue
				}
				local := addr
				if !local.IsValid() || local.IsUnspecified() {
					local, _ = netip.AddrFromSlice(d.LocalAddr)
				}
				return &upnpGateway{svc: svc, host: d.Location.Hostname(), local: local.Unmap(), desc: description}, nil
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("UPnP: %w", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("UPnP: %w", ctx.Err())
		}
		return nil, errors.New("UPnP: no Internet Gateway Device answered")
	}
}

// wanService is the port-mapping service of a discovered device, nil
// when it has none.
func wanService(d goupnp.MaybeRootDevice) igdService {
	if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(d.Root, d.Location); err == nil && len(cs) > 0 {
		return cs[0]
	}
	if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(d.Root, d.Location); err == nil && len(cs) > 0 {
		return cs[0]
	}
	if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(d.Root, d.Location); err == nil && len(cs) > 0 {
		return cs[0]
	}
	return nil
}

// upnpGateway is a UPnP IGD's WAN connection service.
type upnpGateway struct {
	svc   igdService
	host  string     // the device's address, for String
	local netip.Addr // the internal client mappings forward to
	desc  string
	// randPort picks another external port after a conflict; nil means
	// a random one from 1024 up.
	randPort func() uint16
}

func (g *upnpGateway) String() string { return "UPnP IGD at " + g.host }

func (g *upnpGateway) Map(ctx context.Context, proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
	if !g.local.IsValid() {
		return 0, 0, errors.New("this host's address on the gateway's network is not known")
	}
	secs := uint32(lease / time.Second)
	conflicts := 0
	for {
		err := g.svc.AddPortMappingCtx(ctx, "", ext, string(proto), internal, g.local.String(), true, g.desc, secs)
		switch code := upnpErrorCode(err); {
		case err == nil:
			return ext, time.Duration(secs) * time.Second, nil
		case code == upnpOnlyPermanent && secs != 0:
			secs = 0 // removed on Close, or by the router's reboot
		case code == upnpConflict && conflicts < 3:
			conflicts++
			ext = g.otherPort()
		default:
			return 0, 0, upnpError(err)
		}
	}
}

func (g *upnpGateway) otherPort() uint16 {
	if g.randPort != nil {
		return g.randPort()
	}
	return uint16(1024 + rand.IntN(65536-1024))
}

func (g *upnpGateway) Unmap(ctx context.Context, proto Protocol, internal, ext uint16) error {
	return upnpError(g.svc.DeletePortMappingCtx(ctx, "", ext, string(proto)))
}

func (g *upnpGateway) ExternalIP(ctx context.Context) (netip.Addr, error) {
	s, err := g.svc.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, upnpError(err)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("the gateway gave %q as its external address: %w", s, err)
	}
	return a.Unmap(), nil
}

// upnpErrorCode is the UPnP error code of a SOAP fault, 0 for other
// errors.
func upnpErrorCode(err error) int {
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		return f.Detail.UPnPError.Errorcode
	}
	return 0
}

// upnpError words a SOAP fault for a user: its code and description,
// not the XML.
func upnpError(err error) error {
	var f *soap.SOAPFaultError
	if !errors.As(err, &f) {
		return err
	}
	desc := f.Detail.UPnPError.ErrorDescription
	if desc == "" {
		desc = f.FaultString
	}
	return fmt.Errorf("UPnP error %d (%s)", f.Detail.UPnPError.Errorcode, desc)
}
