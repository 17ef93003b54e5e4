package portmap

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func wantCalls(t *testing.T, g *fakeGateway, want ...string) {
	t.Helper()
	if got := g.Calls(); !slices.Equal(got, want) {
		t.Errorf("gateway requests:\n got %q\nwant %q", got, want)
	}
}

// TestMapsAndRenewsAtHalfLease: both protocols are mapped on the same
// external port, renewed at half the lease granted, and the success is
// logged once, not at every renewal.
func TestMapsAndRenewsAtHalfLease(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "NAT-PMP at 192.168.1.1", ip: netip.MustParseAddr("203.0.113.7")}
	g.grant = func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
		return ext, 40 * time.Minute, nil // less than asked
	}
	m, logs := start(t, clk, Options{Discover: []Discoverer{found(g)}, Lease: time.Hour})
	if d := clk.nextWait(t); d != 20*time.Minute {
		t.Errorf("renewal after %v, want half the lease granted, 20m", d)
	}
	wantCalls(t, g, "map TCP 6881->6881 1h0m0s", "map UDP 6881->6881 1h0m0s")
	st := m.Status()
	if st.State != Mapped || m.ExternalPort() != 6881 || st.ExternalIP != g.ip {
		t.Fatalf("status %+v", st)
	}
	if got, want := m.String(), "mapped by NAT-PMP at 192.168.1.1: 203.0.113.7:6881 (TCP, UDP)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for range 3 {
		clk.Advance(20 * time.Minute)
		if d := clk.nextWait(t); d != 20*time.Minute {
			t.Errorf("next renewal after %v, want 20m", d)
		}
		wantCalls(t, g, "map TCP 6881->6881 1h0m0s", "map UDP 6881->6881 1h0m0s")
	}
	if n := logLines(logs, "port mapped"); n != 1 {
		t.Errorf("%d lines say the port is mapped, want 1:\n%s", n, logs)
	}
}

// TestCloseRemovesMappings: Close removes what was mapped, and the
// Mapper then says it is closed.
func TestCloseRemovesMappings(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "UPnP IGD at 192.168.1.1"}
	m, logs := start(t, clk, Options{Discover: []Discoverer{found(g)}})
	clk.nextWait(t)
	g.Calls()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, g, "unmap TCP 6881->6881", "unmap UDP 6881->6881")
	if st := m.Status(); st.State != Closed || m.ExternalPort() != 0 {
		t.Errorf("after Close: %+v", st)
	}
	if !strings.Contains(logs.String(), "port mapping removed") {
		t.Errorf("no line says the mapping was removed:\n%s", logs)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	wantCalls(t, g)
}

// TestCloseIsBoundedWhenTheGatewayHangs: a gateway that never answers
// the removal holds Close for removeTimeout at most, and Close says the
// mapping was not removed.
func TestCloseIsBoundedWhenTheGatewayHangs(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "UPnP IGD at 192.168.1.1", hangUnmap: true}
	m, logs := start(t, clk, Options{Discover: []Discoverer{found(g)}, removeTimeout: 50 * time.Millisecond})
	clk.nextWait(t)
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()
	select {
	case err := <-closed:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want a deadline error", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Close waited on a gateway that does not answer")
	}
	if !strings.Contains(logs.String(), "port mapping not removed") {
		t.Errorf("no warning that the mapping stays:\n%s", logs)
	}
}

// TestExternalPortDiffers: when the gateway grants another external
// port, UDP asks for that one too, renewals keep it, ExternalPort
// reports it, OnChange is called once and the status says where it
// forwards.
func TestExternalPortDiffers(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "NAT-PMP at 10.0.0.1", ip: netip.MustParseAddr("198.51.100.2")}
	g.grant = func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
		if ext == internal {
			return 40000, lease, nil // someone else has 6881
		}
		return ext, lease, nil
	}
	var changes atomic.Int32
	m, _ := start(t, clk, Options{Discover: []Discoverer{found(g)}, OnChange: func() { changes.Add(1) }})
	clk.nextWait(t)
	wantCalls(t, g, "map TCP 6881->6881 1h0m0s", "map UDP 40000->6881 1h0m0s")
	if p := m.ExternalPort(); p != 40000 {
		t.Errorf("ExternalPort = %d, want 40000", p)
	}
	if got, want := m.String(), "mapped by NAT-PMP at 10.0.0.1: 198.51.100.2:40000 to port 6881 (TCP, UDP)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	clk.Advance(30 * time.Minute)
	clk.nextWait(t)
	wantCalls(t, g, "map TCP 40000->6881 1h0m0s", "map UDP 40000->6881 1h0m0s")
	if n := changes.Load(); n != 1 {
		t.Errorf("OnChange called %d times, want 1", n)
	}
}

// TestNoGatewayFailsOnceAndRetries: when no discoverer finds a gateway,
// the Mapper says why (every discoverer's reason) in one line, tries
// again later and later without repeating the line, and maps once a
// gateway shows up.
func TestNoGatewayFailsOnceAndRetries(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "NAT-PMP at 10.0.0.1"}
	var tries atomic.Int32
	natpmp := func(ctx context.Context) (Gateway, error) {
		if tries.Add(1) == 3 {
			return g, nil
		}
		return nil, errors.New("NAT-PMP at 10.0.0.1: connection refused")
	}
	upnp := func(ctx context.Context) (Gateway, error) {
		return nil, errors.New("UPnP: no Internet Gateway Device answered")
	}
	m, logs := start(t, clk, Options{Discover: []Discoverer{upnp, natpmp}})
	if d := clk.nextWait(t); d != retryFirst {
		t.Errorf("first retry after %v, want %v", d, retryFirst)
	}
	st := m.Status()
	if st.State != Failed || !errors.Is(st.Err, ErrNoGateway) || m.ExternalPort() != 0 {
		t.Fatalf("status %+v", st)
	}
	for _, want := range []string{"not mapped: ", "UPnP: no Internet Gateway Device answered", "NAT-PMP at 10.0.0.1: connection refused"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("String() = %q, which does not say %q", m.String(), want)
		}
	}
	clk.Advance(retryFirst)
	if d := clk.nextWait(t); d != 2*retryFirst {
		t.Errorf("second retry after %v, want %v", d, 2*retryFirst)
	}
	if n := logLines(logs, "port mapping failed"); n != 1 {
		t.Errorf("%d lines say the mapping failed, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("no gateway at all is not a warning:\n%s", logs)
	}
	clk.Advance(2 * retryFirst)
	clk.nextWait(t)
	if st := m.Status(); st.State != Mapped {
		t.Fatalf("once the gateway answers: %+v", st)
	}
}

// TestGatewayRefuses: a gateway that refuses the mapping is a warning
// naming it, and the Mapper looks for a gateway again later.
func TestGatewayRefuses(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "UPnP IGD at 192.168.1.1"}
	g.grant = func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
		return 0, 0, errors.New("UPnP error 606 (Action not authorized)")
	}
	m, logs := start(t, clk, Options{Discover: []Discoverer{found(g)}})
	if d := clk.nextWait(t); d != retryFirst {
		t.Errorf("retry after %v, want %v", d, retryFirst)
	}
	want := "not mapped: UPnP IGD at 192.168.1.1 did not forward TCP port 6881: UPnP error 606 (Action not authorized)"
	if got := m.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a refusal is not a warning:\n%s", logs)
	}
	if err := m.Close(); err != nil {
		t.Errorf("Close after a refusal: %v", err)
	}
	wantCalls(t, g, "map TCP 6881->6881 1h0m0s")
}

// TestRenewalFailure: a renewal that fails while the lease still runs
// keeps the port mapped (the status says the renewal failed) and is
// tried again halfway to the lease's end; when the lease runs out
// first, the port is no longer mapped.
func TestRenewalFailure(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "NAT-PMP at 10.0.0.1"}
	var refuse atomic.Bool
	g.grant = func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
		if refuse.Load() {
			return 0, 0, errors.New("NAT-PMP at 10.0.0.1: Timed out trying to contact gateway")
		}
		return ext, 80 * time.Second, nil
	}
	var changes atomic.Int32
	m, logs := start(t, clk, Options{Discover: []Discoverer{found(g)}, OnChange: func() { changes.Add(1) }})
	if d := clk.nextWait(t); d != 40*time.Second {
		t.Fatalf("renewal after %v, want 40s", d)
	}
	refuse.Store(true)
	clk.Advance(40 * time.Second) // 40 s of the lease left
	if d := clk.nextWait(t); d != 20*time.Second {
		t.Errorf("retry after %v, want 20s (half of what is left)", d)
	}
	st := m.Status()
	if st.State != Mapped || st.Err == nil || m.ExternalPort() != 6881 {
		t.Fatalf("after a failed renewal with the lease running: %+v", st)
	}
	if !strings.Contains(m.String(), "renewing failed, retrying") {
		t.Errorf("String() = %q", m.String())
	}
	clk.Advance(20 * time.Second) // 20 s left
	if d := clk.nextWait(t); d != minRetry {
		t.Errorf("retry after %v, want %v", d, minRetry)
	}
	clk.Advance(minRetry) // 10 s left: the next try would come too late
	if d := clk.nextWait(t); d != retryFirst {
		t.Errorf("after the lease ran out: wait %v, want %v", d, retryFirst)
	}
	if st := m.Status(); st.State != Failed || m.ExternalPort() != 0 {
		t.Errorf("after the lease ran out: %+v", st)
	}
	if n := changes.Load(); n != 2 {
		t.Errorf("OnChange called %d times, want 2 (mapped, lost)", n)
	}
	if n := logLines(logs, "not renewed"); n != 1 {
		t.Errorf("%d lines say the renewal failed, want 1:\n%s", n, logs)
	}
}

// TestPermanentLease: a gateway that grants no lease end gets the
// mapping made again now and then, in case it rebooted.
func TestPermanentLease(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "UPnP IGD at 192.168.1.1"}
	g.grant = func(proto Protocol, internal, ext uint16, lease time.Duration) (uint16, time.Duration, error) {
		return ext, 0, nil
	}
	start(t, clk, Options{Discover: []Discoverer{found(g)}})
	if d := clk.nextWait(t); d != permanentRecheck {
		t.Errorf("recheck after %v, want %v", d, permanentRecheck)
	}
}

// TestFirstGatewayWins: discovery takes the first gateway found without
// waiting for a slow discoverer, which is cancelled.
func TestFirstGatewayWins(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "NAT-PMP at 10.0.0.1"}
	cancelled := make(chan struct{})
	slow := func(ctx context.Context) (Gateway, error) {
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	}
	m, _ := start(t, clk, Options{Discover: []Discoverer{slow, found(g)}})
	clk.nextWait(t)
	select {
	case <-cancelled:
	default:
		t.Error("the slow discoverer still runs once the gateway is mapped")
	}
	if st := m.Status(); st.State != Mapped || st.Gateway != g.name {
		t.Errorf("status %+v", st)
	}
}

// TestCloseWhileDiscovering: Close during discovery returns at once and
// sends nothing.
func TestCloseWhileDiscovering(t *testing.T) {
	clk := newFakeClock()
	entered := make(chan struct{})
	slow := func(ctx context.Context) (Gateway, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	m, logs := start(t, clk, Options{Discover: []Discoverer{slow}})
	<-entered
	if st := m.Status(); st.State != Discovering || !strings.Contains(m.String(), "looking for") {
		t.Errorf("while discovering: %+v, %q", st, m.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if logs.String() != "" {
		t.Errorf("a Mapper closed while discovering logged:\n%s", logs)
	}
}

// TestCloseDuringMap: Close while a mapping request is in flight cuts
// it short and removes the mapping it may have made.
func TestCloseDuringMap(t *testing.T) {
	clk := newFakeClock()
	g := &fakeGateway{name: "UPnP IGD at 192.168.1.1", hangMap: make(chan struct{}, 1)}
	m, _ := start(t, clk, Options{Discover: []Discoverer{found(g)}})
	select {
	case <-g.hangMap:
	case <-time.After(waitFor):
		t.Fatal("no mapping request")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, g, "map TCP 6881->6881 1h0m0s", "unmap TCP 6881->6881")
}
