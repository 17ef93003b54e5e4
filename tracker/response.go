package tracker

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// httpAnnounceResponse is the bencoded dictionary of an HTTP announce
// answer; peers is either a compact string (BEP 23) or a list of
// dictionaries (BEP 3), so it stays raw until we know which.
type httpAnnounceResponse struct {
	FailureReason  string             `bencode:"failure reason"`
	WarningMessage string             `bencode:"warning message"`
	Interval       int64              `bencode:"interval"`
	MinInterval    int64              `bencode:"min interval"`
	TrackerID      string             `bencode:"tracker id"`
	Complete       int64              `bencode:"complete"`
	Incomplete     int64              `bencode:"incomplete"`
	Peers          bencode.RawMessage `bencode:"peers"`
	Peers6         []byte             `bencode:"peers6"`
}

type dictPeer struct {
	IP   string `bencode:"ip"`
	Port int64  `bencode:"port"`
}

// maxPeers bounds how many peers one answer may carry: beyond it the
// tracker is broken or hostile, and we keep the first ones.
const maxPeers = 2000

// ParseAnnounceResponse decodes an HTTP tracker's announce answer. A
// "failure reason" becomes a *FailureError (errors.Is(err, ErrFailure));
// malformed input is an error, never a panic.
func ParseAnnounceResponse(body []byte) (*AnnounceResponse, error) {
	if len(body) == 0 || body[0] != 'd' {
		return nil, fmt.Errorf("tracker answer is not bencoded: %w", bencbound.ErrNotDict)
	}
	d := bencbound.Decoder{MaxDepth: maxBencodeDepth}
	var r httpAnnounceResponse
	if err := d.Decode(body, &r); err != nil {
		return nil, fmt.Errorf("tracker answer is not a valid announce response: %w", err)
	}
	if r.FailureReason != "" {
		return nil, &FailureError{Reason: r.FailureReason}
	}
	out := &AnnounceResponse{
		Interval:    seconds(r.Interval),
		MinInterval: seconds(r.MinInterval),
		Complete:    clampCount(r.Complete),
		Incomplete:  clampCount(r.Incomplete),
		TrackerID:   r.TrackerID,
		Warning:     r.WarningMessage,
	}
	if len(r.Peers) > 0 {
		switch r.Peers[0] {
		case 'l':
			var list []dictPeer
			if err := d.Decode(r.Peers, &list); err != nil {
				return nil, fmt.Errorf("tracker answer has a malformed peer list: %w", err)
			}
			for _, p := range list {
				addr, err := netip.ParseAddr(p.IP)
				if err != nil || p.Port <= 0 || p.Port > 65535 {
					continue // a hostname or junk: not a peer we can dial
				}
				out.Peers = appendPeer(out.Peers, netip.AddrPortFrom(addr.Unmap(), uint16(p.Port)))
			}
		default:
			var compact []byte
			if err := d.Decode(r.Peers, &compact); err != nil {
				return nil, fmt.Errorf("tracker answer has malformed peers: %w", err)
			}
			if len(compact)%6 != 0 {
				return nil, fmt.Errorf("tracker answer has %d bytes of compact peers, not a multiple of 6", len(compact))
			}
			out.Peers = appendCompact(out.Peers, compact, 4)
		}
	}
	if len(r.Peers6)%18 != 0 {
		return nil, fmt.Errorf("tracker answer has %d bytes of peers6, not a multiple of 18", len(r.Peers6))
	}
	out.Peers = appendCompact(out.Peers, r.Peers6, 16)
	return out, nil
}

func appendPeer(peers []netip.AddrPort, p netip.AddrPort) []netip.AddrPort {
	if len(peers) >= maxPeers || p.Port() == 0 {
		return peers
	}
	return append(peers, p)
}

// appendCompact decodes BEP 23 / BEP 7 compact peers of the given address
// size (4 or 16) followed by a big-endian port.
func appendCompact(peers []netip.AddrPort, b []byte, size int) []netip.AddrPort {
	for ; len(b) >= size+2; b = b[size+2:] {
		var addr netip.Addr
		if size == 4 {
			addr = netip.AddrFrom4([4]byte(b[:4]))
		} else {
			addr = netip.AddrFrom16([16]byte(b[:16])).Unmap()
		}
		peers = appendPeer(peers, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[size:])))
	}
	return peers
}

func clampCount(n int64) int {
	return int(max(0, min(n, 1<<31-1)))
}

type httpScrapeResponse struct {
	FailureReason string                          `bencode:"failure reason"`
	Files         map[string]httpScrapeFileCounts `bencode:"files"`
}

type httpScrapeFileCounts struct {
	Complete   int64 `bencode:"complete"`
	Downloaded int64 `bencode:"downloaded"`
	Incomplete int64 `bencode:"incomplete"`
}

// ParseScrapeResponse decodes an HTTP tracker's scrape answer (BEP 48).
// Keys that are not 20-byte info-hashes are ignored.
func ParseScrapeResponse(body []byte) (map[[20]byte]ScrapeStats, error) {
	if len(body) == 0 || body[0] != 'd' {
		return nil, fmt.Errorf("tracker scrape answer is not bencoded: %w", bencbound.ErrNotDict)
	}
	d := bencbound.Decoder{MaxDepth: maxBencodeDepth}
	var r httpScrapeResponse
	if err := d.Decode(body, &r); err != nil {
		return nil, fmt.Errorf("tracker scrape answer is malformed: %w", err)
	}
	if r.FailureReason != "" {
		return nil, &FailureError{Reason: r.FailureReason}
	}
	out := make(map[[20]byte]ScrapeStats, len(r.Files))
	for k, v := range r.Files {
		if len(k) != 20 {
			continue
		}
		out[[20]byte([]byte(k))] = ScrapeStats{
			Complete:   clampCount(v.Complete),
			Downloaded: clampCount(v.Downloaded),
			Incomplete: clampCount(v.Incomplete),
		}
	}
	return out, nil
}

// maxBencodeDepth bounds nesting: tracker answers are two or three levels
// deep, and the decoder recurses once per level.
const maxBencodeDepth = 16
