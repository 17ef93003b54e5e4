package fetch

import (
	"net/netip"
	"time"

	"github.com/torfs/torfs/wire"
)

// extPEXID is the message ID peers use to send us ut_pex messages (our
// choice, announced in our extended handshake; libtorrent uses 1 too).
const extPEXID = 1

const (
	// pexInterval is the least time between two messages to one peer
	// (BEP 11: at most one a minute).
	pexInterval = time.Minute
	// pexCheckEvery is how often the sender looks for peers due a message.
	pexCheckEvery = 2 * time.Second
	// pexMaxAdded and pexMaxDropped cap one message (libtorrent's caps).
	pexMaxAdded   = 50
	pexMaxDropped = 50
	// pexMaxAccept caps the addresses taken from one received message.
	pexMaxAccept = 100
	// pexBurst messages are accepted at once from a peer; after them, one
	// per pexRecvEvery. Messages beyond that are ignored.
	pexBurst     = 3
	pexRecvEvery = 45 * time.Second
	// maxSelfIPs caps the addresses peers told us we have (yourip).
	maxSelfIPs = 4
)

// pexState is a torrent's peer exchange (BEP 11). Guarded by t.mu.
type pexState struct {
	// selfIPs are our addresses as peers see them: PEX lists naming them
	// with our port name us.
	selfIPs []netip.Addr
}

// peerPEX is one connection's peer exchange. Guarded by t.mu.
type peerPEX struct {
	id int // their ut_pex message ID; 0 = they do not take PEX
	// sent holds what we told them is connected: the next message adds
	// what is new and drops what is gone.
	sent map[netip.AddrPort]struct{}
	next time.Time // no message to them before this
	// tokens and refilled rate-limit their messages to us.
	tokens   float64
	refilled time.Time
}

// pexEnabled reports whether the torrent exchanges peers: never for a
// private torrent, whose peers come from its tracker alone (BEP 27).
func (t *Torrent) pexEnabled() bool { return !t.info.Private }

// startPEX starts exchanging peer lists with connected peers.
func (t *Torrent) startPEX() {
	if !t.pexEnabled() {
		return
	}
	t.wg.Add(1)
	go t.pexLoop()
}

func (t *Torrent) pexLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(pexCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case now := <-tick.C:
			t.sendPEX(now)
		}
	}
}

// pexAddr is the address p accepts connections on, if known: the one we
// dialled or the port it named in its extended handshake.
func (p *peer) pexAddr() (netip.AddrPort, bool) {
	a := p.dialed
	if !a.IsValid() {
		a = p.listenAddr
	}
	if !a.IsValid() || a.Port() == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), true
}

// pexFlags describes p for added.f: seed; reachable when we reached it
// ourselves; supports uTP when it is connected over uTP or PEX said so;
// prefers encryption when our connection went through the encrypted
// handshake, its extended handshake said e=1 or PEX said so. Called with
// t.mu held.
func (p *peer) pexFlags() byte {
	var f byte
	if p.seed {
		f |= wire.PEXSeed
	}
	if p.dialed.IsValid() {
		f |= wire.PEXReachable
	}
	if p.transport == TransportUTP {
		f |= wire.PEXUTP
	}
	if p.prefersEnc || usesMSE(p.conn) {
		f |= wire.PEXEncryption
	}
	if c := p.t.candidates[p.dialed]; c != nil && p.dialed.IsValid() {
		f |= c.pexFlags & (wire.PEXUTP | wire.PEXEncryption)
	}
	return f
}

// sendPEX sends every PEX-capable peer that is due one the peers added and
// dropped since its last message. The first message to a peer waits until
// there is someone to name, then lists every connected peer (up to the
// cap). Called without t.mu.
func (t *Torrent) sendPEX(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	current := map[netip.AddrPort]byte{}
	for p := range t.peers {
		if a, ok := p.pexAddr(); ok {
			current[a] = p.pexFlags()
		}
	}
	for p := range t.peers {
		if p.pex.id == 0 || now.Before(p.pex.next) {
			continue
		}
		self, _ := p.pexAddr()
		msg, n := p.pex.diff(current, self)
		if n == 0 {
			continue
		}
		b, err := msg.Encode()
		if err != nil {
			t.log.Debug("encoding a PEX message failed", "err", err)
			continue
		}
		id := uint8(p.pex.id)
		p.queue(func(out []byte) []byte { return wire.AppendExtended(out, id, b) })
		p.pex.next = now.Add(pexInterval)
	}
}

// diff builds the message that brings the peer from what we told it to
// current (without self, the peer's own address) and records it as told.
// n counts the addresses in the message.
func (s *peerPEX) diff(current map[netip.AddrPort]byte, self netip.AddrPort) (msg wire.PEX, n int) {
	if s.sent == nil {
		s.sent = map[netip.AddrPort]struct{}{}
	}
	var added4, added6, dropped4, dropped6 []netip.AddrPort
	var flags4, flags6 []byte
	added := 0
	for a, f := range current {
		if added == pexMaxAdded {
			break
		}
		if _, told := s.sent[a]; told || a == self {
			continue
		}
		s.sent[a] = struct{}{}
		added++
		if a.Addr().Is4() {
			added4, flags4 = append(added4, a), append(flags4, f)
		} else {
			added6, flags6 = append(added6, a), append(flags6, f)
		}
	}
	dropped := 0
	for a := range s.sent {
		if dropped == pexMaxDropped {
			break
		}
		if _, ok := current[a]; ok {
			continue
		}
		delete(s.sent, a)
		dropped++
		if a.Addr().Is4() {
			dropped4 = append(dropped4, a)
		} else {
			dropped6 = append(dropped6, a)
		}
	}
	msg.Added, _ = wire.CompactPeers(added4)
	_, msg.Added6 = wire.CompactPeers(added6)
	msg.AddedF, msg.Added6F = string(flags4), string(flags6)
	msg.Dropped, _ = wire.CompactPeers(dropped4)
	_, msg.Dropped6 = wire.CompactPeers(dropped6)
	return msg, added + dropped
}

// allow reports whether a message arriving now is within the peer's rate:
// a burst of pexBurst, then one per pexRecvEvery.
func (s *peerPEX) allow(now time.Time) bool {
	if s.refilled.IsZero() {
		s.tokens, s.refilled = pexBurst, now
	}
	s.tokens = min(pexBurst, s.tokens+now.Sub(s.refilled).Seconds()/pexRecvEvery.Seconds())
	s.refilled = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// onPEX takes the addresses a peer sent as candidates. Dropped peers are
// not forgotten: they may be reachable all the same, and a candidate that
// fails backs off on its own.
func (p *peer) onPEX(payload []byte) error {
	t := p.t
	if !t.pexEnabled() {
		return nil // we never announced ut_pex for it
	}
	t.mu.Lock()
	ok := p.pex.allow(time.Now())
	t.mu.Unlock()
	if !ok {
		t.log.Debug("ignoring a PEX message sent too soon", "peer", p.addr)
		return nil
	}
	msg, err := wire.ParsePEX(payload)
	if err != nil {
		return err
	}
	var addrs []netip.AddrPort
	var flags []byte
	if v4, err := wire.ParseCompactPeers(msg.Added, 4); err == nil {
		v4 = v4[:min(len(v4), pexMaxAccept)]
		addrs = append(addrs, v4...)
		flags = append(flags, pexFlagsOf(msg.AddedF, len(v4))...)
	}
	if v6, err := wire.ParseCompactPeers(msg.Added6, 16); err == nil {
		v6 = v6[:min(len(v6), pexMaxAccept-len(addrs))]
		addrs = append(addrs, v6...)
		flags = append(flags, pexFlagsOf(msg.Added6F, len(v6))...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	port := t.c.listenPort()
	list := make([]netip.AddrPort, 0, len(addrs))
	listFlags := make([]byte, 0, len(addrs))
	for i, a := range addrs {
		ip := a.Addr().Unmap()
		if a.Port() == 0 || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || t.isSelf(ip, a.Port(), port) {
			continue
		}
		list = append(list, netip.AddrPortFrom(ip, a.Port()))
		listFlags = append(listFlags, flags[i])
	}
	if n := t.addCandidates(list, listFlags, "pex", false); n > 0 {
		t.log.Debug("learned peers through PEX", "from", p.addr, "new", n, "peers", list[:min(len(list), 8)])
		t.kickDial()
	}
	return nil
}

// pexFlagsOf returns the n flag bytes of an added.f string; peers
// without one get none (a peer may send fewer flags than addresses).
func pexFlagsOf(f string, n int) []byte {
	out := make([]byte, n)
	copy(out, f)
	return out
}

// isSelf reports whether ip:port is our own listening address. Called
// with t.mu held.
func (t *Torrent) isSelf(ip netip.Addr, port, ours uint16) bool {
	if port != ours {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	for _, a := range t.pex.selfIPs {
		if a == ip {
			return true
		}
	}
	return false
}

// noteSelfIP remembers an address a peer says we have. Called with t.mu
// held.
func (t *Torrent) noteSelfIP(raw string) {
	ip, ok := netip.AddrFromSlice([]byte(raw))
	if !ok {
		return
	}
	ip = ip.Unmap()
	for _, a := range t.pex.selfIPs {
		if a == ip {
			return
		}
	}
	if len(t.pex.selfIPs) < maxSelfIPs {
		t.pex.selfIPs = append(t.pex.selfIPs, ip)
	}
}
