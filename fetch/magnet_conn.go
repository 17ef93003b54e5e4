package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// metaConn is one connection of a Resolve: it only exchanges the BEP 10
// handshake and ut_metadata messages. Its read and write goroutines
// belong to the resolver's WaitGroup; the fields under "run loop" belong
// to the resolver's loop.
type metaConn struct {
	r    *resolver
	addr netip.AddrPort // the candidate dialed, or where an incoming peer is
	conn net.Conn
	out  chan []byte
	done chan struct{}
	once sync.Once

	// run loop
	metaID   int // the peer's ut_metadata message ID; 0 = not offered
	size     int // the metadata size the peer claims
	reqs     map[int]time.Time
	hashReqs int // hash requests outstanding
	closing  bool
}

// maxHashesLen bounds the hashes of a hashes message: our requests ask
// for at most metainfo.LayerPartLen hashes and the uncles up to a root (a
// file's tree is under 64 levels high).
const maxHashesLen = (metainfo.LayerPartLen + 64) * wire.HashSize

var errNoExtensions = errors.New("peer does not support the extension protocol (BEP 10), so it cannot send metadata")

// dialMore starts connections to candidates while the limits allow: our
// own connection cap and the Client's half-open limit, shared with the
// torrents.
func (r *resolver) dialMore() {
	now := time.Now()
	for _, addr := range r.order {
		if len(r.conns)+r.dialing >= maxResolveConns {
			return
		}
		c := r.cands[addr]
		if c.state != candIdle || now.Before(c.next) {
			continue
		}
		select {
		case r.c.halfOpen <- struct{}{}:
		default:
			return
		}
		c.state = candDialing
		r.dialing++
		r.wg.Add(1)
		go r.dial(addr)
	}
}

// dial connects to addr, then becomes the connection's read loop.
func (r *resolver) dial(addr netip.AddrPort) {
	defer r.wg.Done()
	conn, _, _, err := r.c.connect(r.ctx, &r.wg, addr, 0, r.handshake(), r.greet)
	<-r.c.halfOpen
	if err != nil {
		r.post(func() {
			r.dialing--
			r.failed(addr, err.Error(), errors.Is(err, errSelf))
		})
		return
	}
	mc := r.newMetaConn(conn, addr)
	if !r.post(func() { r.dialing--; r.attach(mc) }) {
		conn.Close()
		return
	}
	r.wg.Add(1)
	go mc.writeLoop()
	mc.readLoop()
}

var errSelf = errors.New("that address is ourselves")

// handshake is the BitTorrent handshake we send while resolving.
func (r *resolver) handshake() wire.Handshake {
	h := wire.Handshake{InfoHash: r.m.InfoHash, PeerID: r.c.cfg.PeerID}
	h.Reserved.SetExtended(true)
	h.Reserved.SetDHT(r.c.dht.Load() != nil)
	// A v2 peer answers hash requests only on a v2 connection.
	h.Reserved.SetV2(r.m.HasV2())
	return h
}

// greet checks the peer's handshake and sends our extended handshake,
// which asks for ut_metadata.
func (r *resolver) greet(conn net.Conn, hs wire.Handshake) error {
	switch {
	case hs.PeerID == r.c.cfg.PeerID:
		return errSelf
	case hs.InfoHash != r.m.InfoHash:
		return errWrongTorrent
	case !hs.Reserved.Extended():
		return errNoExtensions
	}
	eh := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: extMetadataID}, V: "torfs 0.1"}
	if r.c.cfg.Encryption != EncryptionOff {
		eh.E = 1
	}
	b, err := eh.Encode()
	if err == nil {
		_, err = conn.Write(wire.AppendExtended(nil, 0, b))
	}
	return err
}

// acceptIncoming takes a peer that connected to us for the magnet's
// info-hash (it found us through a tracker or the DHT) and whose
// handshake was read. It runs on the Client's accept goroutine.
func (r *resolver) acceptIncoming(conn net.Conn, hs wire.Handshake) {
	err := wire.WriteHandshake(conn, r.handshake())
	if err == nil {
		err = r.greet(conn, hs)
	}
	if err != nil {
		r.c.log.Debug("incoming metadata peer refused", "peer", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	addr, _ := addrPort(conn.RemoteAddr())
	mc := r.newMetaConn(conn, addr)
	accepted := r.post(func() {
		if len(r.conns) >= maxResolveConns {
			conn.Close()
			return
		}
		r.attach(mc)
		// Added on the run loop, before Resolve can be waiting.
		r.wg.Add(2)
		go mc.writeLoop()
		go func() {
			defer r.wg.Done()
			mc.readLoop()
		}()
	})
	if !accepted {
		conn.Close()
	}
}

func (r *resolver) newMetaConn(conn net.Conn, addr netip.AddrPort) *metaConn {
	return &metaConn{r: r, addr: addr, conn: conn, out: make(chan []byte, 2*metaPipeline+2), done: make(chan struct{}), reqs: map[int]time.Time{}}
}

// close ends the connection; the read loop then reports it lost.
func (mc *metaConn) close() {
	mc.once.Do(func() {
		close(mc.done)
		mc.conn.Close()
	})
}

// send queues a message; a peer too slow to take a few small messages is
// dropped. Called on the run loop.
func (mc *metaConn) send(b []byte) {
	select {
	case mc.out <- b:
	default:
		mc.r.drop(mc, "peer does not read what we send", time.Minute)
	}
}

func (mc *metaConn) writeLoop() {
	defer mc.r.wg.Done()
	for {
		select {
		case b := <-mc.out:
			mc.conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
			if _, err := mc.conn.Write(b); err != nil {
				mc.close()
				return
			}
		case <-mc.done:
			return
		}
	}
}

// readLoop decodes messages until the connection ends and hands the
// extended ones to the run loop. Resolve closes the connection when it
// returns: the connection is in r.conns from attach on.
func (mc *metaConn) readLoop() {
	defer mc.close()
	dec := wire.NewDecoder(mc.conn, 32<<10)
	var m wire.Message
	for {
		mc.conn.SetReadDeadline(time.Now().Add(metaIdleTimeout))
		err := dec.Decode(&m)
		if err == nil {
			err = mc.handle(&m)
		}
		if err != nil {
			mc.r.post(func() { mc.r.lost(mc, err) })
			return
		}
	}
}

func (mc *metaConn) handle(m *wire.Message) error {
	r := mc.r
	switch {
	case m.ID == wire.Port:
		r.learnNode(mc.conn.RemoteAddr(), m.Port)
		return nil
	case m.ID == wire.Hashes:
		if len(m.Payload) > maxHashesLen {
			return fmt.Errorf("a hashes message of %d bytes, more than any request of ours asks for", len(m.Payload))
		}
		h, data := m.Hash, append([]byte(nil), m.Payload...) // m.Payload is the decoder's buffer
		r.post(func() { r.onHashes(mc, h, data) })
		return nil
	case m.ID == wire.HashReject:
		h := m.Hash
		r.post(func() { r.onHashReject(mc, h) })
		return nil
	case m.ID == wire.HashRequest:
		h := m.Hash
		r.post(func() { r.answerHashRequest(mc, h) })
		return nil
	case m.ID != wire.Extended:
		return nil // bitfields, haves, chokes: not our business here
	case m.ExtID == 0:
		h, err := wire.ParseExtendedHandshake(m.Payload)
		if err != nil {
			return err
		}
		id, size := h.M[wire.ExtMetadata], h.MetadataSize
		r.post(func() { r.onExtHandshake(mc, id, size) })
	case m.ExtID == extMetadataID:
		msg, data, err := wire.ParseMetadata(m.Payload)
		if err != nil {
			return err
		}
		data = append([]byte(nil), data...) // m.Payload is the decoder's buffer
		r.post(func() { r.onMetadata(mc, msg, data) })
	}
	return nil
}
