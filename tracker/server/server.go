package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a Server. The zero value serves an open tracker on an
// in-memory store with the usual defaults.
type Config struct {
	// Store keeps the swarms; nil means a MemoryStore whose peers expire
	// after PeerTimeout. The Server closes a Store it created itself only.
	Store Store
	// Interval is how often peers should announce (default 30 minutes);
	// MinInterval how often they may (default Interval/2).
	Interval, MinInterval time.Duration
	// PeerTimeout is how long a silent peer stays listed when the Server
	// creates its own store (default 2*Interval + 1 minute, at most 8
	// hours).
	PeerTimeout time.Duration
	// DefaultNumWant is the number of peers returned when the client does
	// not say (default 50); MaxNumWant caps what it may ask for (default
	// 200).
	DefaultNumWant, MaxNumWant int
	// MaxScrape bounds the info-hashes of one HTTP scrape (default 64).
	MaxScrape int
	// AllowIPParam lets the announce's "ip" parameter choose the address
	// given to other peers. It is off by default because anyone could
	// then list a third party's address in every swarm and have peers
	// flood it; turn it on only for trusted networks (e.g. a tracker on
	// the same LAN as peers behind a NAT it cannot see through).
	AllowIPParam bool
	// TrustedProxies are reverse proxies whose X-Forwarded-For header
	// names the real client. Requests from other addresses are taken at
	// their TCP source address whatever headers they carry.
	TrustedProxies []netip.Prefix
	// Allow, when non-nil, is the list of info-hashes the tracker serves
	// (a private tracker); announces for others are refused.
	Allow *AllowList
	// Logger receives start, stop and error lines; nil discards them.
	Logger *slog.Logger
}

// Server is a BitTorrent tracker: an http.Handler for /announce, /scrape,
// /metrics and /stats, and a BEP 15 UDP server (ServeUDP). Serve and
// ListenAndServe answer announces and scrapes with a lean HTTP/1.1 front
// end of their own (see serveConn) and hand every other request to
// ServeHTTP; mount the Server in an http.ServeMux instead to trade that
// speed for net/http's features.
type Server struct {
	cfg      Config
	store    Store
	ownStore bool
	log      *slog.Logger
	metrics  *metrics
	connIDs  *connIDMAC
	started  time.Time
	pool     sync.Pool // *httpState
	interval int64     // seconds, as sent
	minIntvl int64
}

// New returns a Server for cfg, with defaults filled in.
func New(cfg Config) (*Server, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Minute
	}
	if cfg.MinInterval <= 0 || cfg.MinInterval > cfg.Interval {
		cfg.MinInterval = cfg.Interval / 2
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = 2*cfg.Interval + time.Minute
	}
	if cfg.DefaultNumWant <= 0 {
		cfg.DefaultNumWant = 50
	}
	if cfg.MaxNumWant <= 0 {
		cfg.MaxNumWant = 200
	}
	cfg.DefaultNumWant = min(cfg.DefaultNumWant, cfg.MaxNumWant)
	if cfg.MaxScrape <= 0 {
		cfg.MaxScrape = 64
	}
	s := &Server{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		started:  time.Now(),
		interval: max(1, int64(cfg.Interval/time.Second)),
		minIntvl: max(1, int64(cfg.MinInterval/time.Second)),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.store == nil {
		s.store = NewMemoryStore(cfg.PeerTimeout)
		s.ownStore = true
	}
	var err error
	if s.connIDs, err = newConnIDMAC(); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s.store)
	s.pool.New = func() any { return new(httpState) }
	return s, nil
}

// Close releases the Server's own store, if it made one.
func (s *Server) Close() error {
	if s.ownStore {
		return s.store.Close()
	}
	return nil
}

// ServeHTTP routes /announce, /scrape, /metrics and /stats.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET is supported", http.StatusMethodNotAllowed)
		return
	}
	if r.ContentLength > 0 {
		// A GET with a body is not a tracker client; don't read it.
		w.Header().Set("Connection", "close")
		http.Error(w, "request bodies are not accepted", http.StatusRequestEntityTooLarge)
		return
	}
	switch r.URL.Path {
	case "/announce":
		s.serveAnnounce(w, r)
	case "/scrape":
		s.serveScrape(w, r)
	case "/metrics":
		s.metrics.handler.ServeHTTP(w, r)
	case "/stats":
		s.serveStats(w, r)
	default:
		http.NotFound(w, r)
	}
}

// peerAddr decides the address other peers will be given: the TCP
// source, or the client named by a trusted proxy, or (if allowed) the ip
// parameter.
func (s *Server) peerAddr(r httpRequest, q *announceQuery) (netip.Addr, error) {
	if s.cfg.AllowIPParam && q.ip.IsValid() {
		return q.ip, nil
	}
	if !r.remote.IsValid() {
		return netip.Addr{}, errNoRemote
	}
	addr := r.remote.Addr().Unmap()
	if len(s.cfg.TrustedProxies) > 0 && s.trusted(addr) && len(r.xff) > 0 {
		addr = s.forwardedFor(r.xff, addr)
	}
	return addr, nil
}

var errNoRemote = errors.New("cannot tell the client's address")

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right, skipping our own
// trusted proxies: the first other address is the one the last trusted
// hop saw, and anything left of it may be forged by the client.
func (s *Server) forwardedFor(values []string, fallback netip.Addr) netip.Addr {
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			j := len(v) - 1
			for j >= 0 && v[j] != ',' {
				j--
			}
			field := trimSpace(v[j+1:])
			v = v[:max(j, 0)]
			a, err := netip.ParseAddr(field)
			if err != nil {
				return fallback
			}
			a = a.Unmap()
			if !s.trusted(a) {
				return a
			}
			if j < 0 {
				break
			}
		}
	}
	return fallback
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// maxRequestsPerConn is how many requests one kept-alive connection may
// make before the server closes it.
const maxRequestsPerConn = 10000

// ListenAndServe serves HTTP on httpAddr and, unless udpAddr is empty,
// UDP on udpAddr, until ctx ends; then it shuts down gracefully, letting
// requests in flight finish for up to five seconds. ready, when non-nil,
// is called with the bound addresses once both listen.
func (s *Server) ListenAndServe(ctx context.Context, httpAddr, udpAddr string, ready func(httpAddr, udpAddr net.Addr)) error {
	// No TCP keep-alive probes on accepted connections: the idle timeout
	// already ends silent ones, and turning probes on costs several
	// system calls per connection.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", httpAddr)
	if err != nil {
		return fmt.Errorf("tracker cannot listen on %s: %w", httpAddr, err)
	}
	var pc net.PacketConn
	if udpAddr != "" {
		pc, err = lc.ListenPacket(ctx, "udp", udpAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tracker cannot listen on udp %s: %w", udpAddr, err)
		}
	}
	if ready != nil {
		var ua net.Addr
		if pc != nil {
			ua = pc.LocalAddr()
		}
		ready(ln.Addr(), ua)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(ctx, ln) }()
	n := 1
	if pc != nil {
		n++
		go func() {
			defer pc.Close()
			errc <- s.ServeUDP(ctx, pc.(*net.UDPConn))
		}()
	}
	var first error
	for range n {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets requests in flight finish for up to five
// seconds, and closes the connections. Size limits and timeouts keep a
// slow or hostile client from holding a connection or memory.
//
// A connection is served by the goroutine that accepted it, which then
// goes back to accepting: no hand-off between goroutines, and no
// goroutine start or stack growth per connection (the bencode encoder's
// recursion needs more than a fresh goroutine's stack). A goroutine that
// takes a connection starts another acceptor if it was the last one;
// acceptors beyond spareAcceptors exit. On a TCP listener, connections
// already waiting in the accept queue are taken as bare descriptors and
// served without the runtime's poller when nothing has to wait (see
// rawAcceptor and serveFD).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var (
		mu        sync.Mutex
		conns     = make(map[net.Conn]struct{})
		wg        sync.WaitGroup
		accepting atomic.Int32
		failed    = make(chan error, 1)
	)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	deferAccept(ln, int(headerTimeout/time.Second))
	track := func(c net.Conn) func() {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		return func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}
	}
	var acceptor func()
	acceptor = func() {
		delay := time.Duration(0)
		raw := newRawAcceptor(ln)
		for {
			accepting.Add(1)
			var (
				c      net.Conn
				fd     int
				remote netip.AddrPort
				err    error
			)
			fd = -1
			if raw != nil {
				fd, remote, err = raw.accept()
			}
			if raw == nil || errors.Is(err, errWouldBlock) {
				c, err = ln.Accept()
			}
			last := accepting.Add(-1) == 0
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
					if ctx.Err() == nil {
						select {
						case failed <- fmt.Errorf("tracker http: %w", err):
						default:
						}
					}
					return
				}
				// Out of descriptors and the like: wait and go on, as
				// net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("tracker cannot accept a connection", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			delay = 0
			if last {
				wg.Go(acceptor)
			}
			if fd >= 0 {
				s.serveFD(ctx, fd, remote, track)
			} else {
				untrack := track(c)
				s.serveConn(ctx, c)
				untrack()
				c.Close()
			}
			if accepting.Load() >= spareAcceptors {
				return
			}
		}
	}
	wg.Go(acceptor)
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
		ln.Close()
	}
	// Idle connections wake up now and see ctx is done (or the listener
	// gone); busy ones finish their request first.
	mu.Lock()
	for c := range conns {
		c.SetReadDeadline(time.Now())
	}
	mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		<-done
	}
	return err
}

// spareAcceptors is how many goroutines may wait in Accept at once.
const spareAcceptors = 4
