package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/tracker/internal/udpproto"
)

// Payload limits that keep answers in one unfragmented datagram: 1500
// bytes of Ethernet minus IP and UDP headers for IPv4, and the 1280-byte
// minimum IPv6 MTU for IPv6.
const (
	udpMaxPayload4 = 1500 - 20 - 8
	udpMaxPayload6 = 1280 - 40 - 8
)

// ServeUDP answers BEP 15 requests arriving on conn until ctx ends. It
// reads with one goroutine per CPU, all of which it owns and waits for.
// The caller owns conn and closes it afterwards.
func (s *Server) ServeUDP(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { errs[i] = s.udpWorker(ctx, conn) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// udpState is one worker's buffers, reused for every packet.
type udpState struct {
	in, out []byte
	ann     udpproto.Announce
	pa      PeerAnnounce
	res     AnnounceResult
	hashes  [][20]byte
	counts  []tracker.ScrapeStats
}

func (s *Server) udpWorker(ctx context.Context, conn *net.UDPConn) error {
	st := &udpState{in: make([]byte, 2048), out: make([]byte, 0, udpMaxPayload4)}
	for {
		n, from, err := conn.ReadFromUDPAddrPort(st.in)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tracker udp: %w", err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if out := s.handleUDP(ctx, st, st.in[:n], from); len(out) > 0 {
			// A failed send is the network's business; the client retries.
			conn.WriteToUDPAddrPort(out, from)
		}
	}
}

// handleUDP answers one packet; nil means stay silent (garbage that does
// not even carry a transaction id deserves no answer, and answering it
// would make us a reflector).
func (s *Server) handleUDP(ctx context.Context, st *udpState, p []byte, from netip.AddrPort) []byte {
	start := time.Now()
	connID, action, tx, err := udpproto.ParseHeader(p)
	if err != nil || from.Port() == 0 {
		return nil
	}
	out := st.out[:0]
	var k kind
	var o outcome
	switch action {
	case udpproto.ActionConnect:
		k = kindConnectUDP
		if connID != udpproto.ProtocolID {
			return nil
		}
		out = udpproto.AppendHeader(out, udpproto.ActionConnect, tx)
		out = binary.BigEndian.AppendUint64(out, s.connIDs.make(from, start))
	case udpproto.ActionAnnounce:
		k = kindAnnounceUDP
		out, o = s.udpAnnounce(ctx, st, p, from, start, out)
	case udpproto.ActionScrape:
		k = kindScrapeUDP
		out, o = s.udpScrape(ctx, st, p, from, start, out)
	default:
		return nil
	}
	s.metrics.observe(k, o, time.Since(start))
	st.out = out[:0]
	return out
}

func (s *Server) udpAnnounce(ctx context.Context, st *udpState, p []byte, from netip.AddrPort, now time.Time, out []byte) ([]byte, outcome) {
	a := &st.ann
	if err := udpproto.ParseAnnounce(p, a); err != nil {
		return udpproto.AppendError(out, binary.BigEndian.Uint32(p[12:]), "malformed announce: "+err.Error()), outcomeFailure
	}
	if !s.connIDs.valid(a.ConnID, from, now) {
		return udpproto.AppendError(out, a.TxID, "connection id expired or not yours; connect again"), outcomeFailure
	}
	if s.cfg.Allow != nil && !s.cfg.Allow.Allowed(a.InfoHash) {
		return udpproto.AppendError(out, a.TxID, "info_hash: this tracker does not serve that torrent"), outcomeFailure
	}
	if a.Port == 0 {
		return udpproto.AppendError(out, a.TxID, errBadPort.Error()), outcomeFailure
	}
	addr := from.Addr()
	if s.cfg.AllowIPParam && a.IP != [4]byte{} && addr.Is4() {
		addr = netip.AddrFrom4(a.IP)
	}
	maxPayload, rec := udpMaxPayload4, 6
	if !addr.Is4() {
		maxPayload, rec = udpMaxPayload6, 18
	}
	numWant := s.cfg.DefaultNumWant
	if a.NumWant > 0 {
		numWant = min(int(a.NumWant), s.cfg.MaxNumWant)
	}
	numWant = min(numWant, (maxPayload-20)/rec)
	st.pa = PeerAnnounce{
		InfoHash:   a.InfoHash,
		PeerID:     a.PeerID,
		Addr:       netip.AddrPortFrom(addr, a.Port),
		Event:      eventFromUDP(a.Event),
		Seeder:     a.Left == 0,
		NumWant:    numWant,
		SameFamily: true,
	}
	st.res.Peers = st.res.Peers[:0]
	if err := s.store.Announce(ctx, &st.pa, &st.res); err != nil {
		s.log.Error("tracker store failed", "err", err)
		return udpproto.AppendError(out, a.TxID, "the tracker's swarm store is unavailable; try again later"), outcomeError
	}
	out = udpproto.AppendHeader(out, udpproto.ActionAnnounce, a.TxID)
	out = binary.BigEndian.AppendUint32(out, uint32(s.interval))
	out = binary.BigEndian.AppendUint32(out, uint32(st.res.Incomplete))
	out = binary.BigEndian.AppendUint32(out, uint32(st.res.Complete))
	for _, pr := range st.res.Peers {
		out = appendAddrPort(out, pr.Addr.Addr().AsSlice(), pr.Addr.Port())
	}
	return out, outcomeOK
}

func (s *Server) udpScrape(ctx context.Context, st *udpState, p []byte, from netip.AddrPort, now time.Time, out []byte) ([]byte, outcome) {
	connID := binary.BigEndian.Uint64(p)
	tx := binary.BigEndian.Uint32(p[12:])
	if !s.connIDs.valid(connID, from, now) {
		return udpproto.AppendError(out, tx, "connection id expired or not yours; connect again"), outcomeFailure
	}
	body := p[udpproto.ScrapeHeaderLen:]
	n := min(len(body)/20, udpproto.MaxScrapeCount)
	if n == 0 {
		return udpproto.AppendError(out, tx, "scrape needs at least one info_hash"), outcomeFailure
	}
	st.hashes = st.hashes[:0]
	for i := range n {
		st.hashes = append(st.hashes, [20]byte(body[20*i:]))
	}
	st.counts = slices.Grow(st.counts[:0], n)[:n]
	if err := s.store.Scrape(ctx, st.hashes, st.counts); err != nil {
		s.log.Error("tracker store failed", "err", err)
		return udpproto.AppendError(out, tx, "the tracker's swarm store is unavailable; try again later"), outcomeError
	}
	out = udpproto.AppendHeader(out, udpproto.ActionScrape, tx)
	for i, c := range st.counts {
		if s.cfg.Allow != nil && !s.cfg.Allow.Allowed(st.hashes[i]) {
			c = tracker.ScrapeStats{}
		}
		out = binary.BigEndian.AppendUint32(out, uint32(c.Complete))
		out = binary.BigEndian.AppendUint32(out, uint32(c.Downloaded))
		out = binary.BigEndian.AppendUint32(out, uint32(c.Incomplete))
	}
	return out, outcomeOK
}

// eventFromUDP maps a BEP 15 event number, which udpproto.ParseAnnounce
// has checked, to ours.
func eventFromUDP(n uint32) tracker.Event {
	switch n {
	case udpproto.EventCompleted:
		return tracker.EventCompleted
	case udpproto.EventStarted:
		return tracker.EventStarted
	case udpproto.EventStopped:
		return tracker.EventStopped
	}
	return tracker.EventNone
}
