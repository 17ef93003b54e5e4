package portmap

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huin/goupnp/soap"
)

// fakeIGD is a UPnP WAN connection service that refuses as told.
type fakeIGD struct {
	calls []string
	// refuse answers AddPortMapping: a UPnP error code, 0 for success.
	refuse func(ext uint16, leaseSeconds uint32) int
}

func upnpFault(code int, desc string) error {
	f := &soap.SOAPFaultError{FaultCode: "s:Client", FaultString: "UPnPError"}
	f.Detail.UPnPError.Errorcode = code
	f.Detail.UPnPError.ErrorDescription = desc
	return f
}

func (f *fakeIGD) AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, intClient string, enabled bool, desc string, leaseSeconds uint32) error {
	f.calls = append(f.calls, fmt.Sprintf("add %s %d->%s:%d %q %ds", proto, extPort, intClient, intPort, desc, leaseSeconds))
	if code := f.refuse(extPort, leaseSeconds); code != 0 {
		return upnpFault(code, "refused")
	}
	return nil
}

func (f *fakeIGD) DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error {
	f.calls = append(f.calls, fmt.Sprintf("delete %s %d", proto, extPort))
	return nil
}

func (f *fakeIGD) GetExternalIPAddressCtx(ctx context.Context) (string, error) {
	return "203.0.113.9", nil
}

func newUPnP(igd *fakeIGD) *upnpGateway {
	return &upnpGateway{svc: igd, host: "192.168.1.1", local: netip.MustParseAddr("192.168.1.20"), desc: "torfs",
		randPort: func() uint16 { return 50000 }}
}

// TestUPnPConflictTakesAnotherPort: an external port another host holds
// (718) is asked for again on another port.
func TestUPnPConflictTakesAnotherPort(t *testing.T) {
	igd := &fakeIGD{refuse: func(ext uint16, _ uint32) int {
		if ext == 6881 {
			return upnpConflict
		}
		return 0
	}}
	ext, lease, err := newUPnP(igd).Map(context.Background(), TCP, 6881, 6881, time.Hour)
	if err != nil || ext != 50000 || lease != time.Hour {
		t.Fatalf("Map = %d, %v, %v; want 50000, 1h", ext, lease, err)
	}
	want := []string{`add TCP 6881->192.168.1.20:6881 "torfs" 3600s`, `add TCP 50000->192.168.1.20:6881 "torfs" 3600s`}
	if !slices.Equal(igd.calls, want) {
		t.Errorf("requests %q, want %q", igd.calls, want)
	}
}

// TestUPnPOnlyPermanentLeases: a gateway that takes no lease (725) gets
// a mapping without one, reported as lasting until removed.
func TestUPnPOnlyPermanentLeases(t *testing.T) {
	igd := &fakeIGD{refuse: func(_ uint16, secs uint32) int {
		if secs != 0 {
			return upnpOnlyPermanent
		}
		return 0
	}}
	ext, lease, err := newUPnP(igd).Map(context.Background(), UDP, 6881, 6881, time.Hour)
	if err != nil || ext != 6881 || lease != 0 {
		t.Fatalf("Map = %d, %v, %v; want 6881, 0", ext, lease, err)
	}
}

// TestUPnPRefusalIsWordedForUsers: other errors come back with their
// code and description, not the SOAP XML, and a gateway that keeps
// finding conflicts is given up.
func TestUPnPRefusalIsWordedForUsers(t *testing.T) {
	igd := &fakeIGD{refuse: func(uint16, uint32) int { return 606 }}
	_, _, err := newUPnP(igd).Map(context.Background(), TCP, 6881, 6881, time.Hour)
	if err == nil || err.Error() != "UPnP error 606 (refused)" {
		t.Errorf("Map error %v", err)
	}
	igd = &fakeIGD{refuse: func(uint16, uint32) int { return upnpConflict }}
	if _, _, err := newUPnP(igd).Map(context.Background(), TCP, 6881, 6881, time.Hour); err == nil || len(igd.calls) != 4 {
		t.Errorf("Map with conflicts everywhere: %v after %d requests, want an error after 4", err, len(igd.calls))
	}
}

func TestUPnPUnmapAndExternalIP(t *testing.T) {
	igd := &fakeIGD{}
	g := newUPnP(igd)
	if err := g.Unmap(context.Background(), UDP, 6881, 50000); err != nil {
		t.Fatal(err)
	}
	if want := []string{"delete UDP 50000"}; !slices.Equal(igd.calls, want) {
		t.Errorf("requests %q, want %q", igd.calls, want)
	}
	if ip, err := g.ExternalIP(context.Background()); err != nil || ip != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("ExternalIP = %v, %v", ip, err)
	}
	if g.String() != "UPnP IGD at 192.168.1.1" {
		t.Errorf("String() = %q", g.String())
	}
}

func TestDefaultGateway(t *testing.T) {
	const table = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	0000A8C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth1	00000000	0101A8C0	0001	0	0	0	00000000	0	0	0
eth0	00000000	0100A8C0	0003	0	0	100	00000000	0	0	0
`
	gw, err := defaultGateway(strings.NewReader(table))
	if err != nil || gw != netip.MustParseAddr("192.168.0.1") {
		t.Errorf("defaultGateway = %v, %v; want 192.168.0.1 (the up route with a gateway)", gw, err)
	}
	const none = "Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT\nlo	0000007F	00000000	0001	0	0	0	000000FF	0	0	0\n"
	if _, err := defaultGateway(strings.NewReader(none)); err == nil || !strings.Contains(err.Error(), "no IPv4 default gateway") {
		t.Errorf("a table without a default route: %v", err)
	}
}
