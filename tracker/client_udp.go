package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/torfs/torfs/tracker/internal/udpproto"
)

// BEP 15 timing: a connection id is good for a minute on the client side
// (the server accepts it for two); a lost packet is resent after
// udpRetransmit, doubling each time, until the attempt's deadline.
const (
	udpConnIDLifetime = time.Minute
	udpRetransmit     = 2 * time.Second
	udpMaxPacket      = 2048
)

// udpConn is one exchange with a UDP tracker over a connected socket.
type udpConn struct {
	conn *net.UDPConn
	host string // the URL's host, for messages
	key  string // the address dialed: connection ids are tied to it
	v6   bool   // dialed over IPv6: peers are 18 bytes (BEP 15)
	buf  []byte
}

// dialUDPAddr opens a socket connected to one address of host.
func dialUDPAddr(ctx context.Context, host string, addr netip.AddrPort) (*udpConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("udp tracker %s: %w", host, err)
	}
	return &udpConn{conn: c.(*net.UDPConn), host: host, key: addr.String(), v6: !addr.Addr().Is4(), buf: make([]byte, udpMaxPacket)}, nil
}

// roundTrip sends req and waits for the answer with the same transaction
// id and action, resending on silence. A UDP tracker's error answer
// becomes a *FailureError.
func (uc *udpConn) roundTrip(ctx context.Context, req []byte, action, tx uint32) ([]byte, error) {
	host := uc.host
	stop := context.AfterFunc(ctx, func() { uc.conn.SetReadDeadline(time.Now()) })
	defer stop()
	wait := udpRetransmit
	for {
		if _, err := uc.conn.Write(req); err != nil {
			return nil, fmt.Errorf("udp tracker %s: %w", host, err)
		}
		uc.conn.SetReadDeadline(time.Now().Add(wait))
		for {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("udp tracker %s did not answer: %w", host, ctx.Err())
			}
			n, err := uc.conn.Read(uc.buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // resend
				}
				return nil, fmt.Errorf("udp tracker %s: %w", host, err)
			}
			p := uc.buf[:n]
			if n < 8 || binary.BigEndian.Uint32(p[4:]) != tx {
				continue // stray or stale packet
			}
			switch binary.BigEndian.Uint32(p) {
			case action:
				return p, nil
			case udpproto.ActionError:
				return nil, &FailureError{URL: "udp://" + host, Reason: string(p[8:])}
			default:
				return nil, fmt.Errorf("udp tracker %s answered with an unexpected action", host)
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("udp tracker %s did not answer: %w", host, ctx.Err())
		}
		wait *= 2
	}
}

// connect obtains a connection id, from the client's cache when fresh.
func (c *Client) connect(ctx context.Context, uc *udpConn) (uint64, error) {
	if id, ok := c.cachedConnID(uc.key); ok {
		return id, nil
	}
	tx := rand.Uint32()
	req := binary.BigEndian.AppendUint64(make([]byte, 0, udpproto.ConnectLen), udpproto.ProtocolID)
	req = binary.BigEndian.AppendUint32(req, udpproto.ActionConnect)
	req = binary.BigEndian.AppendUint32(req, tx)
	p, err := uc.roundTrip(ctx, req, udpproto.ActionConnect, tx)
	if err != nil {
		return 0, err
	}
	if len(p) < 16 {
		return 0, fmt.Errorf("udp tracker %s sent a short connect answer", uc.host)
	}
	id := binary.BigEndian.Uint64(p[8:])
	c.storeConnID(uc.key, id)
	return id, nil
}

func (c *Client) announceUDP(ctx context.Context, u *url.URL, req AnnounceRequest) (*AnnounceResponse, error) {
	var resp *AnnounceResponse
	err := c.overUDP(ctx, u, req.Family, func(ctx context.Context, uc *udpConn) error {
		for try := 0; ; try++ {
			id, err := c.connect(ctx, uc)
			if err != nil {
				return err
			}
			tx := rand.Uint32()
			p, err := uc.roundTrip(ctx, udpproto.AppendAnnounce(nil, udpAnnounce(id, tx, req)), udpproto.ActionAnnounce, tx)
			if err != nil {
				// A cached id the tracker no longer accepts: reconnect once.
				if errors.Is(err, ErrFailure) && try == 0 && c.dropConnID(uc.key, id) {
					continue
				}
				return err
			}
			resp, err = parseUDPAnnounceResponse(p, uc.v6)
			return err
		}
	})
	return resp, err
}

// udpAnnounce is req as a BEP 15 announce on connection id and
// transaction tx.
func udpAnnounce(id uint64, tx uint32, req AnnounceRequest) *udpproto.Announce {
	numWant := int32(-1)
	if req.NumWant > 0 {
		numWant = int32(min(req.NumWant, 1<<31-1))
	}
	return &udpproto.Announce{
		ConnID: id, TxID: tx,
		InfoHash: req.InfoHash, PeerID: req.PeerID,
		Downloaded: req.Downloaded, Left: req.Left, Uploaded: req.Uploaded,
		Event:   udpEvent(req.Event),
		Key:     req.Key,
		NumWant: numWant,
		Port:    req.Port,
	}
}

// udpEvent maps e to its BEP 15 number.
func udpEvent(e Event) uint32 {
	switch e {
	case EventCompleted:
		return udpproto.EventCompleted
	case EventStarted:
		return udpproto.EventStarted
	case EventStopped:
		return udpproto.EventStopped
	}
	return udpproto.EventNone
}

// parseUDPAnnounceResponse decodes an announce answer; ipv6 tells the
// peer record size, which follows the transport's address family.
func parseUDPAnnounceResponse(p []byte, ipv6 bool) (*AnnounceResponse, error) {
	if len(p) < 20 {
		return nil, errors.New("udp tracker sent a short announce answer")
	}
	size := 4
	if ipv6 {
		size = 16
	}
	peers := p[20:]
	if len(peers)%(size+2) != 0 {
		return nil, fmt.Errorf("udp tracker sent %d bytes of peers, not a multiple of %d", len(peers), size+2)
	}
	return &AnnounceResponse{
		Interval:   seconds(int64(binary.BigEndian.Uint32(p[8:]))),
		Incomplete: clampCount(int64(binary.BigEndian.Uint32(p[12:]))),
		Complete:   clampCount(int64(binary.BigEndian.Uint32(p[16:]))),
		Peers:      appendCompact(nil, peers, size),
	}, nil
}

func (c *Client) scrapeUDP(ctx context.Context, u *url.URL, hashes [][20]byte) (map[[20]byte]ScrapeStats, error) {
	var out map[[20]byte]ScrapeStats
	err := c.overUDP(ctx, u, AnyFamily, func(ctx context.Context, uc *udpConn) error {
		out = make(map[[20]byte]ScrapeStats, len(hashes))
		for rest := hashes; len(rest) > 0; {
			batch := rest[:min(len(rest), udpproto.MaxScrapeCount)]
			rest = rest[len(batch):]
			id, err := c.connect(ctx, uc)
			if err != nil {
				return err
			}
			tx := rand.Uint32()
			req := binary.BigEndian.AppendUint64(nil, id)
			req = binary.BigEndian.AppendUint32(req, udpproto.ActionScrape)
			req = binary.BigEndian.AppendUint32(req, tx)
			for _, h := range batch {
				req = append(req, h[:]...)
			}
			p, err := uc.roundTrip(ctx, req, udpproto.ActionScrape, tx)
			if err != nil {
				c.dropConnID(uc.key, id)
				return err
			}
			if !parseUDPScrapeResponse(p, batch, out) {
				return fmt.Errorf("udp tracker %s sent a short scrape answer", uc.host)
			}
		}
		return nil
	})
	return out, err
}

// parseUDPScrapeResponse reads the counts of a scrape answer (header
// included) for the hashes of batch, in order, into out; false means the
// answer is too short for them.
func parseUDPScrapeResponse(p []byte, batch [][20]byte, out map[[20]byte]ScrapeStats) bool {
	if len(p) < 8+12*len(batch) {
		return false
	}
	p = p[8:]
	for i, h := range batch {
		r := p[12*i:]
		out[h] = ScrapeStats{
			Complete:   clampCount(int64(binary.BigEndian.Uint32(r))),
			Downloaded: clampCount(int64(binary.BigEndian.Uint32(r[4:]))),
			Incomplete: clampCount(int64(binary.BigEndian.Uint32(r[8:]))),
		}
	}
	return true
}
