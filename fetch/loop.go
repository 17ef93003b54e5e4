package fetch

import (
	"net"
	"net/netip"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// candidate is an address we may connect to.
type candidate struct {
	connected, dialing, self bool
	fails                    int
	next                     time.Time // no attempt before this
	source                   string    // where we learned of it, for logs ("pex"); "" = given
	pexFlags                 byte      // what PEX said of it (wire.PEXUTP...), or its e=1 (wire.PEXEncryption)
	// v2Name: first learned under the hybrid's truncated v2 info-hash
	// (its DHT or tracker announces), so perhaps a v2-only client, which
	// knows the torrent by that name alone: dialled with it.
	v2Name bool
}

// maxCandidates caps the addresses a torrent remembers, so that peers
// (PEX) and trackers cannot grow it without bound.
const maxCandidates = 1000

const (
	// snubAfter is how long a peer may leave our requests unanswered
	// before we give them to others.
	snubAfter = 30 * time.Second
	// maxSnubs drops a peer that snubbed us this many times in a row.
	maxSnubs = 3
	// uselessAfter drops a connection where neither side has been
	// interested for this long.
	uselessAfter = 5 * time.Minute
)

type snubError struct{}

func (snubError) Error() string { return "peer keeps ignoring our requests" }

var errSnubbed error = snubError{}

// AddPeers adds "host:port" addresses to connect to. Names are looked
// up in the background.
func (t *Torrent) AddPeers(addrs ...string) {
	ips, names := splitAddrs(addrs)
	t.addPeers(ips, nil, "")
	if len(names) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.wg.Add(1) // under the lock, with closed false: Close is not waiting yet
	go func() {
		defer t.wg.Done()
		found, err := lookupAddrs(t.ctx, names)
		if err != nil {
			t.mu.Lock()
			t.lastError = err.Error()
			t.mu.Unlock()
			t.log.Debug("cannot look up peer", "err", err)
		}
		t.addPeers(found, nil, "")
	}()
}

// addPeers adds candidates with their PEX flags (nil: none) and wakes
// the dialer.
func (t *Torrent) addPeers(addrs []netip.AddrPort, flags []byte, source string) int {
	return t.addPeersUnder(addrs, flags, source, t.mi.InfoHash)
}

// addPeersUnder is addPeers of peers found under the name ih: the
// torrent's info-hash, or a hybrid's truncated v2 one, which new
// candidates are then dialled with.
func (t *Torrent) addPeersUnder(addrs []netip.AddrPort, flags []byte, source string, ih metainfo.Hash) int {
	t.mu.Lock()
	n := t.addCandidates(addrs, flags, source, ih != t.mi.InfoHash)
	t.mu.Unlock()
	t.kickDial()
	return n
}

// addCandidates remembers new addresses, up to maxCandidates: when full,
// an address that failed replaces the one that failed most, otherwise the
// new address is dropped. flags, when not nil, are each address's PEX
// flags; v2Name says they were found under the truncated v2 info-hash.
// It returns how many were added. Called with t.mu held.
func (t *Torrent) addCandidates(addrs []netip.AddrPort, flags []byte, source string, v2Name bool) int {
	n := 0
	for i, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		var f byte
		if i < len(flags) {
			f = flags[i]
		}
		if c, ok := t.candidates[a]; ok {
			c.pexFlags |= f & (wire.PEXUTP | wire.PEXEncryption) // now known to speak them
			continue
		}
		if len(t.candidates) >= maxCandidates && !t.evictCandidate() {
			break
		}
		c := &candidate{source: source, pexFlags: f, v2Name: v2Name}
		for p := range t.peers {
			if p.listenAddr == a {
				c.connected = true // it connected to us first
			}
		}
		t.candidates[a] = c
		n++
	}
	return n
}

// evictCandidate forgets the idle candidate that failed most (or one that
// is our own address). Called with t.mu held.
func (t *Torrent) evictCandidate() bool {
	var worst netip.AddrPort
	fails := 0
	for a, c := range t.candidates {
		if c.connected || c.dialing {
			continue
		}
		if c.self {
			worst = a
			break
		}
		if c.fails > fails {
			worst, fails = a, c.fails
		}
	}
	if !worst.IsValid() {
		return false
	}
	delete(t.candidates, worst)
	return true
}

// loop is the session's clock: rates, pipelines, snubs, the choker and
// dialing.
func (t *Torrent) loop() {
	defer t.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var n int
	t.dialMore()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.kick:
		case <-tick.C:
			n++
			t.tick(n)
		}
		t.dialMore()
	}
}

func (t *Torrent) tick(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	seeding := t.seeding()
	for p := range t.peers {
		down, up := p.downBytes.Load(), p.upBytes.Load()
		delta := down - p.lastDown
		// Smoothed over a few seconds: quick to rise, not too jumpy.
		p.downRate = 0.6*p.downRate + 0.4*float64(delta)
		p.upRate = 0.6*p.upRate + 0.4*float64(up-p.lastUp)
		if up > p.lastUp {
			p.lastUpAt = now
		}
		p.lastDown, p.lastUp = down, up
		if delta > 0 {
			// A few seconds of data in flight, like libtorrent, once a
			// second of data is measured; slow start grows it until then.
			d := int(max(p.downRate, float64(delta)) * pipelineSeconds / wire.BlockSize)
			if !p.rated {
				p.rated = true
				d = max(d, p.desired)
			}
			p.desired = min(max(d, minPipeline), maxPipeline)
		}
		if len(p.reqs) > 0 && now.Sub(p.lastBlock) > snubAfter {
			p.snubs++
			if p.snubs >= maxSnubs {
				p.close(errSnubbed)
				continue
			}
			t.log.Debug("peer is not answering requests", "peer", p.addr, transportStats(p.conn))
			t.returnRequests(p)
			p.lastBlock = now
			p.desired = minPipeline
		}
		if lost := p.sent.overdue(p.reqs, now.UnixNano(), nil); len(lost) > 0 {
			t.giveUpSkipped(p, lost)
		}
		// Drop connections where neither side wants anything.
		if p.amInterested || p.peerInterested {
			p.idleSince = time.Time{}
		} else if p.idleSince.IsZero() {
			p.idleSince = now
		} else if now.Sub(p.idleSince) > uselessAfter {
			p.close(nil)
			continue
		}
		if seeding && p.seed {
			p.close(nil) // two seeds have nothing to say to each other
			continue
		}
		t.fill(p)
	}
	t.reapStuck()
	if n%int(chokeEvery/time.Second) == 0 {
		t.rechoke(n%int(optimisticEvery/time.Second) == 0)
	} else if t.slotWasted(now) {
		t.rechoke(false)
	}
}

// dialMore starts connections to candidates while limits allow.
func (t *Torrent) dialMore() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	room := t.c.cfg.MaxConnsPerTorrent - len(t.peers) - t.dialing
	now := time.Now()
	seeding := t.seeding()
	for addr, c := range t.candidates {
		if room <= 0 {
			return
		}
		if c.connected || c.dialing || c.self || now.Before(c.next) || t.bans.banned(dialBanKey(addr)) {
			continue
		}
		if seeding && c.pexFlags&wire.PEXSeed != 0 {
			continue // PEX says it is a seed too: we would only hang up
		}
		select {
		case t.c.halfOpen <- struct{}{}:
		default:
			return // too many connection attempts in progress
		}
		c.dialing = true
		t.dialing++
		room--
		t.wg.Add(1)
		go t.dial(addr, c)
	}
}

// dial connects to one candidate and does the handshake.
func (t *Torrent) dial(addr netip.AddrPort, c *candidate) {
	defer t.wg.Done()
	ours := t.c.handshake(t)
	t.mu.Lock()
	flags := c.pexFlags
	if c.v2Name {
		ours.InfoHash = t.mi.InfoHashV2.Truncated()
	}
	t.mu.Unlock()
	conn, hs, tr, err := t.c.connect(t.ctx, &t.wg, addr, flags, ours, func(_ net.Conn, hs wire.Handshake) error {
		// A v2-aware peer (libtorrent) answers our v2 bit for a hybrid
		// under its v2 name, and a hybrid's peer found under one name
		// may answer under the other.
		hybrid := t.mi.Version() == metainfo.Hybrid && (hs.InfoHash == t.mi.InfoHash || hs.InfoHash == t.mi.InfoHashV2.Truncated())
		if hs.InfoHash != ours.InfoHash && !hybrid {
			return errWrongTorrent
		}
		return nil
	})
	<-t.c.halfOpen
	t.mu.Lock()
	c.dialing = false
	t.dialing--
	if err != nil {
		c.fails++
		c.next = time.Now().Add(backoff(c.fails))
		t.lastError = err.Error()
		t.mu.Unlock()
		t.log.Debug("cannot connect to peer", "peer", addr, "err", err)
		return
	}
	t.mu.Unlock()
	t.attach(conn, hs, addr, tr.Name())
}

type wrongTorrentError struct{}

func (wrongTorrentError) Error() string { return "peer answered for another torrent" }

var errWrongTorrent error = wrongTorrentError{}

// backoff is the wait before retrying an address after n failures.
func backoff(n int) time.Duration {
	return min(5*time.Second<<min(n-1, 6), 5*time.Minute)
}

// removePeer forgets a closed connection: its requests go back to the
// picker, its pieces leave the availability counts.
func (t *Torrent) removePeer(p *peer) {
	t.mu.Lock()
	if p.gone {
		t.mu.Unlock()
		return
	}
	p.gone = true
	delete(t.peers, p)
	delete(t.told, p)
	t.returnRequests(p)
	if p.seed {
		t.seeds--
	} else {
		for i := range t.avail {
			if p.bits.Has(i) {
				t.avail[i]--
			}
		}
	}
	still := false // another connection to the same peer lives on
	for q := range t.peers {
		still = still || q.id == p.id
	}
	for _, a := range []netip.AddrPort{p.dialed, p.listenAddr} {
		if c := t.candidates[a]; c != nil && !still {
			c.connected = false
			c.next = time.Now().Add(backoff(1))
		}
	}
	if t.optimistic == p {
		t.optimistic = nil
	}
	for _, ap := range t.activeList {
		if ap.owner == p {
			ap.owner = nil // others may finish it
		}
	}
	if !p.amChoking {
		t.rechoke(false)
	}
	t.reapStuck()
	for q := range t.peers {
		t.fill(q)
	}
	t.mu.Unlock()
	t.c.releaseConn()
	t.kickDial()
}

// reapStuck restarts partial pieces that no connected peer may finish:
// their blocks came from peers now gone, and the peers left are on parole
// (they only download whole pieces alone). Called with t.mu held.
func (t *Torrent) reapStuck() {
	for k := 0; k < len(t.activeList); k++ {
		ap := t.activeList[k]
		if ap.owner != nil || ap.unrequested == 0 {
			continue
		}
		busy := false
		for b := range ap.blocks {
			busy = busy || ap.blocks[b].reqs > 0 || ap.blocks[b].state == blockWriting
		}
		for p := range t.peers {
			busy = busy || (!p.parole && p.has(ap.index))
		}
		if busy {
			continue
		}
		t.deactivate(ap)
		t.state[ap.index] = pieceMissing
		t.st.Discard(ap.index)
		k--
	}
}

// reapAbandoned discards partial pieces no reader wants any more (their
// reads were cancelled or moved on), releasing the room the storage
// reserved for them. It runs when the storage is full, and returns how
// many it discarded. Called with t.mu held.
func (t *Torrent) reapAbandoned() int {
	n := 0
	for k := 0; k < len(t.activeList); k++ {
		ap := t.activeList[k]
		if t.prio(ap.index) != prioNone {
			continue
		}
		busy := false
		for b := range ap.blocks {
			busy = busy || ap.blocks[b].reqs > 0 || ap.blocks[b].state == blockWriting
		}
		if busy {
			continue
		}
		t.deactivate(ap)
		t.state[ap.index] = pieceMissing
		t.st.Discard(ap.index)
		k--
		n++
	}
	return n
}
