// Package portmap keeps a port forwarded to this host by the router in
// front of it, so that peers outside the local network can connect in.
// A Mapper finds a gateway (a UPnP Internet Gateway Device by SSDP, and
// NAT-PMP at the default gateway, in parallel; the first that answers
// wins), asks it to forward a port over TCP and UDP (the same external
// port when it can), renews the mappings at half their lease and removes
// them on Close. Status says whether the port is mapped, by what, and
// why not.
//
// Discovery sends packets beyond this host (SSDP multicast to
// 239.255.255.250, NAT-PMP to the default gateway): callers decide
// whether to start a Mapper at all (cmd/torfs does not when it listens
// on loopback).
package portmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultLease is the lease asked for when Options.Lease is 0: short
// enough that the mappings of a torfs that was killed go away on their
// own within the hour.
const DefaultLease = time.Hour

const (
	// discoverTimeout bounds one round of discovery (UPnP's SSDP search
	// alone waits 2 s for answers, then fetches each device's
	// description).
	discoverTimeout = 10 * time.Second
	// callTimeout bounds one request to the gateway.
	callTimeout = 10 * time.Second
	// removeTimeout bounds Close's removal of the mappings, all of them.
	removeTimeout = 2 * time.Second
	// retryFirst and retryMax bound the wait before looking for a
	// gateway again after a failure; it doubles each time.
	retryFirst, retryMax = time.Minute, 30 * time.Minute
	// permanentRecheck is how often a mapping without a lease is made
	// again, in case the router rebooted and forgot it.
	permanentRecheck = 20 * time.Minute
	// minRetry is the shortest wait before trying a failed renewal again.
	minRetry = 10 * time.Second
)

// Options configure a Mapper.
type Options struct {
	// Port is the port this host listens on, to be forwarded.
	Port uint16
	// Protocols to forward; nil means TCP and UDP.
	Protocols []Protocol
	// Lease asked for each mapping; 0 means DefaultLease.
	Lease time.Duration
	// Description labels the mappings in the router's table (UPnP).
	Description string
	// Addr is the address this host listens on, to which a UPnP gateway
	// forwards; unspecified or invalid means the address it is reached
	// from.
	Addr netip.Addr
	// Discover finds the gateway: every Discoverer runs at once and the
	// first gateway found is used. nil means UPnP(Addr, Description)
	// and NATPMP().
	Discover []Discoverer
	// OnChange, when set, is called on the Mapper's goroutine each time
	// ExternalPort changes.
	OnChange func()
	// Logger gets one line when the port is mapped (or its external
	// port changes) and one when mapping fails, not one per renewal;
	// nil discards them.
	Logger *slog.Logger

	// Unexported: tests set them.
	clock         clock
	removeTimeout time.Duration
}

// State is where a Mapper stands.
type State int

// The states of a Mapper.
const (
	Discovering State = iota // looking for a gateway
	Mapped                   // the port is forwarded
	Failed                   // no gateway, or it refused; retrying later
	Closed                   // Close was called
)

// Mapping is one protocol's forwarded port.
type Mapping struct {
	Protocol Protocol
	External uint16
}

// Status is a snapshot of a Mapper.
type Status struct {
	State State
	// Gateway names the gateway and its protocol ("NAT-PMP at
	// 192.168.1.1"), once one was found.
	Gateway string
	// ExternalIP is the gateway's outside address, when it told.
	ExternalIP netip.Addr
	// Port is the port forwarded to; Mappings the external ports, one
	// per protocol, while Mapped.
	Port     uint16
	Mappings []Mapping
	// Err is why the port is not mapped (Failed), or why the last
	// renewal failed while the mappings still hold (Mapped).
	Err error
}

// ExternalPort is the external port of the first protocol mapped (TCP
// by default), 0 when not mapped.
func (s Status) ExternalPort() uint16 {
	if s.State != Mapped || len(s.Mappings) == 0 {
		return 0
	}
	return s.Mappings[0].External
}

// String says in one line whether and how the port is mapped, e.g.
// "mapped by UPnP IGD at 192.168.1.1: 203.0.113.7:6881 (TCP, UDP)".
func (s Status) String() string {
	switch s.State {
	case Discovering:
		return "looking for a UPnP IGD or NAT-PMP gateway"
	case Failed:
		return "not mapped: " + errString(s.Err)
	case Closed:
		return "closed"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mapped by %s: ", s.Gateway)
	ext := s.ExternalPort()
	if s.ExternalIP.IsValid() {
		b.WriteString(netip.AddrPortFrom(s.ExternalIP, ext).String())
	} else {
		fmt.Fprintf(&b, "external port %d", ext)
	}
	if ext != s.Port {
		fmt.Fprintf(&b, " to port %d", s.Port)
	}
	protos := make([]string, len(s.Mappings))
	for i, m := range s.Mappings {
		protos[i] = string(m.Protocol)
		if m.External != ext {
			protos[i] += fmt.Sprintf(" on external port %d", m.External)
		}
	}
	fmt.Fprintf(&b, " (%s)", strings.Join(protos, ", "))
	if s.Err != nil {
		fmt.Fprintf(&b, "; renewing failed, retrying: %s", errString(s.Err))
	}
	return b.String()
}

// errString is err's message on one line.
func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// ErrNoGateway is why a Mapper failed when no gateway answered.
var ErrNoGateway = errors.New("no UPnP IGD or NAT-PMP gateway found")

// Mapper keeps one port mapped. Start it with Start; Close it to
// remove the mappings.
type Mapper struct {
	opts   Options
	log    *slog.Logger
	clock  clock
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu sync.Mutex
	st Status
	// gw and its mappings, confirmed and in flight (a request Close may
	// have cut short, which the gateway may have granted): run's while
	// it runs, Close's after.
	gw       Gateway
	mapped   map[Protocol]uint16
	inflight *Mapping
	lastLog  string // the last line logged, not repeated

	closeOnce sync.Once
	closeErr  error
}

// Start starts keeping opts.Port mapped, in the background.
func Start(opts Options) *Mapper {
	if len(opts.Protocols) == 0 {
		opts.Protocols = []Protocol{TCP, UDP}
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Description == "" {
		opts.Description = "torfs"
	}
	if opts.Discover == nil {
		opts.Discover = []Discoverer{UPnP(opts.Addr, opts.Description), NATPMP()}
	}
	if opts.clock == nil {
		opts.clock = realClock{}
	}
	if opts.removeTimeout <= 0 {
		opts.removeTimeout = removeTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mapper{
		opts: opts, log: log, clock: opts.clock, cancel: cancel, done: make(chan struct{}),
		st:     Status{State: Discovering, Port: opts.Port},
		mapped: map[Protocol]uint16{},
	}
	go m.run(ctx)
	return m
}

// Status returns a snapshot.
func (m *Mapper) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.st
	s.Mappings = append([]Mapping(nil), s.Mappings...)
	return s
}

// ExternalPort is the port peers outside reach the first protocol (TCP
// by default) at, 0 while it is not mapped.
func (m *Mapper) ExternalPort() uint16 { return m.Status().ExternalPort() }

// String is Status().String().
func (m *Mapper) String() string { return m.Status().String() }

// Close stops renewing and removes the mappings, taking at most a
// couple of seconds however the gateway behaves. It may be called more
// than once.
func (m *Mapper) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
		m.closeErr = m.removeAll()
		m.mu.Lock()
		m.st = Status{State: Closed, Port: m.opts.Port}
		m.mu.Unlock()
	})
	return m.closeErr
}

// removeAll removes the mappings run left, after it returned.
func (m *Mapper) removeAll() error {
	if m.gw == nil || len(m.mapped) == 0 && m.inflight == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.removeTimeout)
	defer cancel()
	var errs []error
	for _, proto := range m.opts.Protocols {
		ext, ok := m.mapped[proto]
		if !ok {
			continue
		}
		if err := m.gw.Unmap(ctx, proto, m.opts.Port, ext); err != nil {
			errs = append(errs, fmt.Errorf("%s port %d: %w", proto, ext, err))
		}
	}
	if in := m.inflight; in != nil && m.mapped[in.Protocol] != in.External {
		// Granted or not, nobody knows: a failure here is no news.
		_ = m.gw.Unmap(ctx, in.Protocol, m.opts.Port, in.External)
	}
	if len(errs) > 0 {
		err := fmt.Errorf("removing the port mappings from %s: %w", m.gw, errors.Join(errs...))
		m.log.Warn("port mapping not removed", "err", errString(err))
		return err
	}
	if len(m.mapped) > 0 {
		m.log.Info("port mapping removed", "gateway", m.gw.String())
	}
	return nil
}

// run finds a gateway and keeps the port mapped until ctx ends, looking
// for a gateway again (later and later) after each failure.
func (m *Mapper) run(ctx context.Context) {
	defer close(m.done)
	retry := retryFirst
	for {
		gw, err := m.discover(ctx)
		if err == nil {
			m.gw = gw
			var held bool
			held, err = m.keep(ctx, gw)
			if held {
				retry = retryFirst
			}
		}
		if ctx.Err() != nil {
			return
		}
		m.setFailed(err)
		if !m.sleep(ctx, retry) {
			return
		}
		retry = min(2*retry, retryMax)
	}
}

// discover runs every discoverer at once and returns the first gateway
// found, once every discoverer has returned (the others are cancelled).
func (m *Mapper) discover(ctx context.Context) (Gateway, error) {
	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	type result struct {
		i   int
		gw  Gateway
		err error
	}
	results := make(chan result, len(m.opts.Discover))
	var wg sync.WaitGroup
	for i, d := range m.opts.Discover {
		wg.Go(func() {
			gw, err := d(ctx)
			results <- result{i, gw, err}
		})
	}
	defer wg.Wait()
	// Reasons in the discoverers' order, so that a repeated failure
	// reads the same.
	errs := make([]error, len(m.opts.Discover))
	for range m.opts.Discover {
		r := <-results
		if r.err == nil && r.gw != nil {
			cancel()
			return r.gw, nil
		}
		if ctx.Err() == nil {
			errs[r.i] = r.err
		}
	}
	var reasons []string
	for _, err := range errs {
		if err != nil {
			reasons = append(reasons, errString(err))
		}
	}
	if len(reasons) == 0 {
		return nil, fmt.Errorf("%w within %v", ErrNoGateway, discoverTimeout)
	}
	return nil, fmt.Errorf("%w (%s)", ErrNoGateway, strings.Join(reasons, "; "))
}

// keep maps the port on gw and renews it until ctx ends or the
// mappings are lost. held says whether they were ever made.
func (m *Mapper) keep(ctx context.Context, gw Gateway) (held bool, err error) {
	var expires time.Time // when the mappings run out; zero: never
	for {
		lease, err := m.mapAll(ctx, gw)
		now := m.clock.Now()
		if err != nil {
			if ctx.Err() != nil {
				return held, err
			}
			if !held || !expires.IsZero() && !now.Add(minRetry).Before(expires) {
				return held, err
			}
			// Still mapped for a while: try again halfway to the end.
			m.setRenewFailed(err)
			wait := retryFirst
			if !expires.IsZero() {
				wait = max(expires.Sub(now)/2, minRetry)
			}
			if !m.sleep(ctx, wait) {
				return held, ctx.Err()
			}
			continue
		}
		held = true
		wait := permanentRecheck
		expires = time.Time{}
		if lease > 0 {
			wait, expires = lease/2, now.Add(lease)
		}
		m.setMapped(ctx, gw)
		if !m.sleep(ctx, wait) {
			return held, ctx.Err()
		}
	}
}

// mapAll maps (or renews) every protocol, asking for the external port
// the first one got, and returns the shortest lease granted (0: none
// ends).
func (m *Mapper) mapAll(ctx context.Context, gw Gateway) (time.Duration, error) {
	wish := m.opts.Port
	if ext, ok := m.mapped[m.opts.Protocols[0]]; ok {
		wish = ext // a renewal keeps the port peers were told
	}
	var shortest time.Duration
	for i, proto := range m.opts.Protocols {
		m.inflight = &Mapping{Protocol: proto, External: wish}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		ext, lease, err := gw.Map(cctx, proto, m.opts.Port, wish, m.opts.Lease)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				m.inflight = nil // refused: nothing to remove
			}
			return 0, fmt.Errorf("%s did not forward %s port %d: %w", gw, proto, m.opts.Port, err)
		}
		m.inflight = nil
		m.mapped[proto] = ext
		if i == 0 {
			wish = ext
		}
		if lease > 0 && (shortest == 0 || lease < shortest) {
			shortest = lease
		}
	}
	return shortest, nil
}

// sleep waits d on the Mapper's clock; false when ctx ended first.
func (m *Mapper) sleep(ctx context.Context, d time.Duration) bool {
	c, stop := m.clock.Timer(d)
	defer stop()
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	}
}

// setMapped records a successful mapping or renewal, asking the
// gateway for its outside address, and logs it unless it is what was
// logged last.
func (m *Mapper) setMapped(ctx context.Context, gw Gateway) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	ip, err := gw.ExternalIP(cctx)
	cancel()
	if err != nil {
		ip = netip.Addr{} // the mapping works without it
	}
	st := Status{State: Mapped, Gateway: gw.String(), ExternalIP: ip, Port: m.opts.Port}
	for _, proto := range m.opts.Protocols {
		st.Mappings = append(st.Mappings, Mapping{Protocol: proto, External: m.mapped[proto]})
	}
	m.mu.Lock()
	before := m.st.ExternalPort()
	m.st = st
	m.mu.Unlock()
	m.logOnce(slog.LevelInfo, "port mapped", st.String())
	if st.ExternalPort() != before && m.opts.OnChange != nil {
		m.opts.OnChange()
	}
}

// setRenewFailed records a failed renewal while the mappings still hold.
func (m *Mapper) setRenewFailed(err error) {
	m.mu.Lock()
	m.st.Err = err
	m.mu.Unlock()
	m.logOnce(slog.LevelWarn, "port mapping not renewed, retrying", errString(err))
}

// setFailed records that the port is not mapped, and why.
func (m *Mapper) setFailed(err error) {
	m.mapped = map[Protocol]uint16{}
	m.gw = nil
	m.mu.Lock()
	before := m.st.ExternalPort()
	m.st = Status{State: Failed, Port: m.opts.Port, Err: err}
	m.mu.Unlock()
	level := slog.LevelWarn
	if errors.Is(err, ErrNoGateway) {
		// Common and harmless on a host with a public address: said
		// with -v only.
		level = slog.LevelInfo
	}
	m.logOnce(level, "port mapping failed; peers outside the local network may not reach this host", errString(err))
	if before != 0 && m.opts.OnChange != nil {
		m.opts.OnChange()
	}
}

// logOnce logs msg with detail unless the last line logged was the same.
func (m *Mapper) logOnce(level slog.Level, msg, detail string) {
	if line := msg + ": " + detail; line != m.lastLog {
		m.lastLog = line
		m.log.Log(context.Background(), level, msg, "status", detail)
	}
}
