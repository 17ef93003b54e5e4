package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
	"github.com/torfs/torfs/wire"
)

// TorrentOptions configures one torrent session.
type TorrentOptions struct {
	// Trackers are announce URL tiers used in addition to the torrent's own.
	Trackers [][]string
	// Peers are "host:port" addresses to connect to.
	Peers []string
	// DownloadAll fetches every piece at normal priority (a download);
	// false fetches only what Readers demand (a mount).
	DownloadAll bool
	// WebSeeds are BEP 19 URLs used in addition to the torrent's url-list
	// (e.g. a magnet link's ws).
	WebSeeds []string
	// Wanted, when not nil, has one entry per piece: DownloadAll then
	// fetches only the pieces marked true (readers still get what they
	// read), and WantedComplete says when those are held.
	Wanted []bool
}

// piece states.
const (
	pieceMissing  uint8 = iota
	pieceActive         // some blocks requested or written
	pieceHashing        // all blocks written, waiting for Verify
	pieceChecking       // unproven data on disk, waiting for Prove
	pieceHave
	pieceWebSeed // claimed by a web seed worker (webseed.go)
)

// Torrent is one swarm session. Its methods are safe for concurrent use.
type Torrent struct {
	c    *Client
	mi   *metainfo.MetaInfo
	info *metainfo.Info
	st   Storage
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	uploaded, downloaded atomic.Int64 // payload bytes
	wasted               atomic.Int64 // bytes received but not used

	// kick wakes the session loop to dial new candidates at once.
	kick chan struct{}
	// hashWake wakes the hashing workers.
	hashWake chan struct{}
	trackers *tracker.Tiers
	// trackersV2 announce a hybrid under its truncated v2 info-hash too,
	// as libtorrent does, so that v2 peers find it; nil otherwise.
	trackersV2 *tracker.Tiers
	// evicts brings the storage's eviction reports (budget.go).
	evicts evictState
	// capPieces is how many pieces the storage holds at once; 0 when it
	// keeps everything.
	capPieces int
	// told is what each peer heard we have, when capPieces is set
	// (announceHave). Guarded by mu.
	told map[*peer]*told

	mu        sync.Mutex
	state     []uint8
	haveCount int
	// complete is closed while every piece is held (isComplete); an
	// eviction replaces it with an open one.
	complete    chan struct{}
	isComplete  bool
	avail       []int32 // peers (not counting seeds) that have each piece
	seeds       int     // connected peers that have everything
	rejected    int     // our requests peers rejected
	skipped     int     // our requests peers skipped, asked again (requests.go)
	active      map[int]*activePiece
	activeList  []*activePiece
	hashQ       []hashJob
	peers       map[*peer]struct{}
	candidates  map[netip.AddrPort]*candidate
	bans        *bans
	failed      map[int][]hashJob // failed downloads of pieces not yet verified
	readers     map[*Reader]struct{}
	downloadAll bool
	wanted      wantedState // wanted.go: the pieces DownloadAll fetches
	// verified is closed and replaced whenever a piece verifies, waking
	// readers that wait for data.
	verified    chan struct{}
	budgetUntil time.Time // storage full: no new pieces before this
	rng         *rand.Rand
	optimistic  *peer
	closed      bool
	dialing     int
	lastError   string // why the last dial or tracker contact failed
	diskFull    error  // the last write the full disk refused (diskfull.go)
	// evicted marks the pieces the storage evicted this session, for
	// PieceStates; nil until the first eviction.
	evicted []bool
	// stalls counts reads that ended with ErrStalled.
	stalls atomic.Int64

	// Parts that live in their own files, each owned by that file.
	dht      dhtState     // dht.go: announcing to and finding peers in the DHT
	pex      pexState     // pex.go: peer exchange (BEP 11)
	webSeeds webSeedState // webseed.go: HTTP seeds (BEP 19)
	writer   writerState  // download.go: storing received blocks
	choker   chokerState  // choker.go: taking back wasted upload slots

	hashTrees hashTrees // hashserve.go: answering BEP 52 hash requests
}

type hashJob struct {
	piece int
	prove bool // unproven data from disk rather than a fresh download
	// senders and sums are who sent each block and its CRC.
	senders []*peer
	sums    []uint32
}

// AddTorrent starts a session for mi storing pieces in st. The session runs
// until Close or the Client's Close. The session speaks the v1 peer
// protocol: a hybrid torrent through its v1 half, a v2-only one under its
// truncated v2 info-hash with pieces verified by their BEP 52 hashes,
// which must all be known (metainfo.MetaInfo.HasAllHashesV2: Resolve and
// ResolveLayers fetch those missing from peers); otherwise the error
// wraps metainfo.ErrV2Only. The session answers peers' BEP 52 hash
// requests from the piece layers it holds.
func (c *Client) AddTorrent(ctx context.Context, mi *metainfo.MetaInfo, st Storage, opts TorrentOptions) (*Torrent, error) {
	if err := CheckSupported(mi); err != nil {
		return nil, err
	}
	info := &mi.Info
	n := info.NumPieces()
	if n == 0 && info.Length > 0 {
		return nil, errors.New("torrent has no pieces")
	}
	if opts.Wanted != nil && len(opts.Wanted) != n {
		return nil, fmt.Errorf("wanted pieces: %d given for a torrent of %d pieces", len(opts.Wanted), n)
	}
	if err := checkCapacity(st, info.PieceLength, info.Length); err != nil {
		return nil, err
	}
	tctx, cancel := context.WithCancel(c.ctx)
	t := &Torrent{
		c: c, mi: mi, info: info, st: st,
		log:         c.log.With("torrent", info.Name),
		ctx:         tctx,
		cancel:      cancel,
		kick:        make(chan struct{}, 1),
		hashWake:    make(chan struct{}, 1),
		complete:    make(chan struct{}),
		state:       make([]uint8, n),
		avail:       make([]int32, n),
		active:      map[int]*activePiece{},
		peers:       map[*peer]struct{}{},
		candidates:  map[netip.AddrPort]*candidate{},
		bans:        newBans(),
		failed:      map[int][]hashJob{},
		readers:     map[*Reader]struct{}{},
		downloadAll: opts.DownloadAll,
		verified:    make(chan struct{}),
		rng:         rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		webSeeds:    webSeedState{extra: opts.WebSeeds},
		evicts:      evictState{wake: make(chan struct{}, 1)},
		told:        map[*peer]*told{},
	}
	if info.PieceLength > 0 {
		t.capPieces = int(st.Capacity() / info.PieceLength)
	}
	st.OnEvict(t.onEvict)
	for p := range n {
		switch {
		case st.Have(p):
			t.state[p] = pieceHave
			t.haveCount++
		case st.Unproven(p):
			t.state[p] = pieceChecking
			t.hashQ = append(t.hashQ, hashJob{piece: p, prove: true})
		}
	}
	if t.haveCount == n {
		t.markComplete()
	}
	t.initWanted(opts.Wanted)
	tiers := append(append([][]string(nil), mi.Trackers()...), opts.Trackers...)
	if len(tiers) > 0 {
		t.trackers = tracker.NewTiers(tiers)
		t.trackers.AdoptTrackerIDs(c.takeTrackerIDs(mi.InfoHash))
		if mi.Version() == metainfo.Hybrid {
			t.trackersV2 = tracker.NewTiers(tiers)
		}
	}
	c.needPortMap()
	if !info.Private {
		// Before peers can reach the torrent, so its handshakes offer the
		// DHT from the first.
		if err := c.needDHT(); err != nil {
			cancel()
			return nil, err
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("client is %w", ErrClosed)
	}
	if _, dup := c.torrents[mi.InfoHash]; dup {
		c.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("torrent %s is already added", mi.InfoHash)
	}
	c.torrents[mi.InfoHash] = t
	c.serveSKeyLocked(mi.InfoHash)
	if mi.Version() == metainfo.Hybrid {
		c.v2Names[mi.InfoHashV2.Truncated()] = t
		c.serveSKeyLocked(mi.InfoHashV2.Truncated())
	}
	c.mu.Unlock()

	t.AddPeers(opts.Peers...)
	workers := 2
	for range workers {
		t.wg.Add(1)
		go t.hashWorker()
	}
	t.signalHash()
	t.startWriter()
	t.wg.Add(1)
	go t.evictLoop()
	t.wg.Add(1)
	go t.loop()
	if t.trackers != nil {
		t.startAnnounces(t.trackers, mi.InfoHash, true)
	}
	if t.trackersV2 != nil {
		t.startAnnounces(t.trackersV2, mi.InfoHashV2.Truncated(), false)
	}
	t.startDHT()
	t.startPEX()
	t.startWebSeeds()
	return t, nil
}

// Info returns the torrent's info dictionary.
func (t *Torrent) Info() *metainfo.Info { return t.info }

// InfoHash returns the torrent's info-hash.
func (t *Torrent) InfoHash() metainfo.Hash { return t.mi.InfoHash }

// Complete returns a channel closed once every piece is verified and
// held. A storage with a budget may evict a piece later: the session is
// then no longer complete, and Complete returns a new channel, closed
// when every piece is held again.
func (t *Torrent) Complete() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.complete
}

// VerifiedBytes returns how many bytes of [off, off+n) are verified.
func (t *Torrent) VerifiedBytes(off, n int64) int64 { return t.st.VerifiedBytes(off, n) }

// SetDownloadAll switches between downloading everything and fetching
// only what readers demand.
func (t *Torrent) SetDownloadAll(all bool) {
	t.mu.Lock()
	t.downloadAll = all
	t.demandChanged()
	t.mu.Unlock()
}

// Close announces "stopped" to the trackers (bounded by ctx), drops every
// peer and stops the session. The storage is left open for the caller.
func (t *Torrent) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	peers := make([]*peer, 0, len(t.peers))
	for p := range t.peers {
		peers = append(peers, p)
	}
	t.mu.Unlock()
	t.c.mu.Lock()
	delete(t.c.torrents, t.mi.InfoHash)
	t.c.unserveSKeyLocked(t.mi.InfoHash)
	if t.c.v2Names[t.mi.InfoHashV2.Truncated()] == t {
		delete(t.c.v2Names, t.mi.InfoHashV2.Truncated())
		t.c.unserveSKeyLocked(t.mi.InfoHashV2.Truncated())
	}
	t.c.mu.Unlock()
	t.cancel()
	for _, p := range peers {
		p.close(nil)
	}
	t.wg.Wait()
	if t.trackers != nil && ctx.Err() == nil {
		t.announceStopped(ctx, t.trackers, t.mi.InfoHash)
	}
	if t.trackersV2 != nil && ctx.Err() == nil {
		t.announceStopped(ctx, t.trackersV2, t.mi.InfoHashV2.Truncated())
	}
	return nil
}

// attach starts a connection whose handshakes are done. dialed is the
// candidate address for outgoing connections, the zero AddrPort for
// incoming ones; transport names the transport that carried it.
func (t *Torrent) attach(conn net.Conn, hs wire.Handshake, dialed netip.AddrPort, transport string) {
	if hs.PeerID == t.c.cfg.PeerID {
		t.mu.Lock()
		if cand := t.candidates[dialed]; cand != nil {
			cand.self = true // our own address: never dial it again
		}
		t.mu.Unlock()
		conn.Close()
		return
	}
	if !t.c.reserveConn() {
		conn.Close()
		return
	}
	p := newPeer(t, conn, hs, dialed, transport)
	t.mu.Lock()
	reason := ""
	switch {
	case t.closed:
		reason = "torrent closed"
	case t.bans.banned(p.key):
		reason = "banned"
	case len(t.peers) >= t.c.cfg.MaxConnsPerTorrent:
		reason = "too many connections"
	default:
		for q := range t.peers {
			if q.id != p.id {
				continue
			}
			// Both sides may dial each other at once. Both keep the
			// connection opened by the peer with the lower id, so they
			// never close both.
			if t.initiator(p) < t.initiator(q) {
				q.close(errDuplicate)
				continue
			}
			reason = "already connected"
			if dialed.IsValid() && !q.listenAddr.IsValid() && !q.dialed.IsValid() {
				q.listenAddr = dialed
			}
			if cand := t.candidates[dialed]; cand != nil {
				cand.connected = true
			}
		}
	}
	if reason != "" {
		t.mu.Unlock()
		t.c.releaseConn()
		t.log.Debug("refusing peer", "peer", p.addr, "reason", reason)
		conn.Close()
		return
	}
	t.peers[p] = struct{}{}
	if cand := t.candidates[dialed]; cand != nil {
		cand.connected = true
		cand.fails = 0
	}
	source := ""
	if cand := t.candidates[dialed]; cand != nil {
		source = cand.source
	}
	p.sendGreeting()
	t.noteGreeting(p)
	t.wg.Add(2) // under the lock: Close cannot be waiting yet
	t.mu.Unlock()
	if source != "" {
		t.log.Debug("peer connected", "peer", p.addr, "client", clientName(hs.PeerID), "transport", transport, "source", source)
	} else {
		t.log.Debug("peer connected", "peer", p.addr, "client", clientName(hs.PeerID), "transport", transport)
	}
	go p.readLoop()
	go p.writeLoop()
}

// initiator is the peer id of the side that opened p's connection.
func (t *Torrent) initiator(p *peer) string {
	if p.dialed.IsValid() {
		return string(t.c.cfg.PeerID[:])
	}
	return string(p.id[:])
}

type duplicateError struct{}

func (duplicateError) Error() string { return "duplicate connection" }

var errDuplicate error = duplicateError{}

// signalHash wakes a hashing worker.
func (t *Torrent) signalHash() {
	select {
	case t.hashWake <- struct{}{}:
	default:
	}
}

func (t *Torrent) kickDial() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// markComplete closes the complete channel. Called with t.mu held.
func (t *Torrent) markComplete() {
	if !t.isComplete {
		t.isComplete = true
		close(t.complete)
	}
}

// seeding reports whether we hold every piece now. Called with t.mu held.
func (t *Torrent) seeding() bool { return t.haveCount == len(t.state) }

// left is the number of bytes we still miss, for trackers.
func (t *Torrent) left() int64 {
	return t.info.Length - t.st.VerifiedBytes(0, t.info.Length)
}

// clientName extracts an Azureus-style client tag ("-TF0001-") from a
// peer id for logs.
func clientName(id [20]byte) string {
	if id[0] == '-' && id[7] == '-' {
		return string(id[1:7])
	}
	return "unknown"
}

// CheckSupported tells whether AddTorrent can serve mi: a v2-only torrent
// needs every piece's hash in its piece layers (an error wrapping
// metainfo.ErrV2Only otherwise: Client.ResolveLayers fetches them).
func CheckSupported(mi *metainfo.MetaInfo) error {
	if mi.HasV1() || mi.HasAllHashesV2() {
		return nil
	}
	return fmt.Errorf("%s: %w: they must come from peers first (BEP 52 hash requests, as torfs get and magnet links do), or from a .torrent file with all the piece layers (as libtorrent and torfs create write it)", mi.Info.Name, metainfo.ErrV2Only)
}
