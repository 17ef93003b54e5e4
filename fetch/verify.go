package fetch

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
)

// hashWorker verifies completed pieces and proves data found on disk.
// Hashing runs outside the lock, so receiving continues meanwhile.
func (t *Torrent) hashWorker() {
	defer t.wg.Done()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-t.hashWake:
		}
		for t.ctx.Err() == nil {
			t.mu.Lock()
			if len(t.hashQ) == 0 {
				t.mu.Unlock()
				break
			}
			job := t.hashQ[0]
			t.hashQ = t.hashQ[1:]
			more := len(t.hashQ) > 0
			t.mu.Unlock()
			if more {
				t.signalHash() // let another worker help
			}
			var ok bool
			var err error
			if job.prove {
				ok, err = t.st.Prove(job.piece)
			} else {
				ok, err = t.st.Verify(job.piece)
			}
			t.mu.Lock()
			t.checked(job, ok, err)
			t.mu.Unlock()
		}
	}
}

// checked records a hash result. Called with t.mu held.
func (t *Torrent) checked(job hashJob, ok bool, err error) {
	i := job.piece
	if err != nil {
		t.state[i] = pieceMissing
		if errors.Is(err, ErrDiskFull) {
			t.noteDiskFull(err)
			return
		}
		// An I/O error: the user must hear of it.
		t.log.Error("checking a piece failed; it will be downloaded again", "piece", i, "err", err)
		return
	}
	if !ok {
		t.state[i] = pieceMissing
		if !job.prove {
			t.log.Warn("piece failed its hash check; downloading it again", "piece", i)
			t.blame(job)
		}
		for p := range t.peers {
			t.fill(p)
		}
		return
	}
	if !t.st.Have(i) {
		// Evicted between its check and now: the storage's report came
		// while the piece was not counted yet, and was dropped as stale.
		t.state[i] = pieceMissing
		t.demandChanged()
		return
	}
	t.state[i] = pieceHave
	t.haveCount++
	t.gotWanted(i)
	if fails := t.failed[i]; len(fails) > 0 {
		delete(t.failed, i)
		t.convict(job, fails)
	}
	t.announceHave(i)
	close(t.verified)
	t.verified = make(chan struct{})
	if t.seeding() {
		t.markComplete()
		// How many requests went unanswered tells whether the tail of
		// the download waited on peers.
		t.log.Info("download complete", "wasted", t.wasted.Load(), "rejected", t.rejected, "skipped", t.skipped)
		for p := range t.peers {
			t.setInterested(p, false)
		}
	} else if t.want(i) && t.wantedHeld() {
		t.log.Info("the wanted pieces are complete", "wasted", t.wasted.Load())
		for p := range t.peers {
			t.setInterested(p, false)
		}
	}
}

// bans remembers misbehaving peers for the session.
type bans struct {
	strikes map[string]int
	set     map[string]bool
}

func newBans() *bans { return &bans{strikes: map[string]int{}, set: map[string]bool{}} }

func (b *bans) banned(key string) bool { return b.set[key] }

// blame handles a piece that failed its hash. A peer that sent every
// block is banned at once. The senders of a shared piece go on parole:
// from now on each downloads whole pieces alone, so its next failure is
// its own. The failed attempt is kept: when the piece passes later, the
// blocks whose checksums differ from the good ones convict their senders
// (convict).
func (t *Torrent) blame(job hashJob) {
	var only *peer
	alone := true
	for _, p := range job.senders {
		if only == nil {
			only = p
		} else if p != only {
			alone = false
		}
	}
	if only != nil && alone {
		t.ban(only)
		return
	}
	t.failed[job.piece] = append(t.failed[job.piece], job)
	for _, p := range job.senders {
		if p != nil && !p.parole {
			p.parole = true
			t.bans.strikes[p.key]++
			t.log.Debug("peer on parole after a failed piece", "peer", p.addr)
		}
	}
	t.reapStuck()
}

// convict compares the failed attempts of a piece with the attempt that
// passed: a block that differs was corrupt, and its sender lied.
func (t *Torrent) convict(good hashJob, fails []hashJob) {
	for _, f := range fails {
		for b, p := range f.senders {
			if p != nil && b < len(good.sums) && f.sums[b] != good.sums[b] {
				t.ban(p)
			}
		}
	}
}

func (t *Torrent) ban(p *peer) {
	if t.bans.set[p.key] {
		return
	}
	t.bans.set[p.key] = true
	t.log.Warn("banning a peer that sent corrupt data", "peer", p.addr, "client", clientName(p.id))
	for q := range t.peers {
		if q.key == p.key {
			q.close(errBanned)
		}
	}
}

type banError struct{}

func (banError) Error() string { return "banned for sending corrupt data" }

var errBanned error = banError{}

// banKey is what a ban applies to: the peer's host (hostKey). On
// loopback, where every local peer shares one address, the ban applies
// to the dialled address or, for an incoming connection, to the peer id.
func banKey(addr net.Addr, dialed netip.AddrPort, id [20]byte) string {
	if a, ok := addrPort(addr); ok && !a.Addr().IsLoopback() {
		return hostKey(a.Addr())
	}
	if dialed.IsValid() {
		return dialed.String()
	}
	return "id:" + hex.EncodeToString(id[:])
}

// dialBanKey is the banKey of the peer at addr, were it dialled.
func dialBanKey(addr netip.AddrPort) string {
	if addr.Addr().IsLoopback() {
		return addr.String()
	}
	return hostKey(addr.Addr())
}

// hostKey names the host at address a: its address, or for a global
// IPv6 address the /64 it is in, since a host on the Internet is usually
// given a whole /64 and could otherwise come back from the next address
// after a ban. Link-local and unique local addresses (a LAN's hosts
// share its /64) and the shared Teredo and NAT64 prefixes stay whole.
func hostKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() && a.IsGlobalUnicast() && !a.IsPrivate() && !teredo.Contains(a) && !nat64.Contains(a) {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.WithZone("").String()
}

// The IPv6 prefixes whose /64s many unrelated hosts share (RFC 4380,
// RFC 6052).
var (
	teredo = netip.MustParsePrefix("2001::/32")
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
)
