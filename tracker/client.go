package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"
)

// Event is the announce event a client reports (BEP 3).
type Event int

// Announce events. EventNone is the periodic refresh.
const (
	EventNone Event = iota
	EventStarted
	EventCompleted
	EventStopped
)

// String returns the event as it appears in an HTTP announce ("" for none).
func (e Event) String() string {
	switch e {
	case EventStarted:
		return "started"
	case EventCompleted:
		return "completed"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// AnnounceRequest is what a client tells a tracker about itself.
type AnnounceRequest struct {
	InfoHash, PeerID [20]byte
	Port             uint16
	Uploaded         int64
	Downloaded       int64
	Left             int64
	Event            Event
	// NumWant is how many peers the client asks for; 0 lets the tracker
	// pick (HTTP) or means "default" (-1 on UDP).
	NumWant int
	// Key lets the tracker recognise the client across address changes.
	Key uint32
	// TrackerID is the "tracker id" this tracker gave in an earlier
	// answer (AnnounceResponse.TrackerID); HTTP trackers want it back.
	TrackerID string
	// Family restricts the announce to the tracker's addresses of one
	// family, so that the tracker learns our address in that family and
	// answers with the peers it knows there (BEP 7). When the tracker has
	// no such address, or this host no route to it, the error wraps
	// ErrFamilyUnreachable. AnyFamily uses whichever answers.
	Family Family
}

// AnnounceResponse is a tracker's answer to an announce.
type AnnounceResponse struct {
	Interval    time.Duration
	MinInterval time.Duration
	Peers       []netip.AddrPort
	Complete    int
	Incomplete  int
	// TrackerID must be echoed in later announces to the same tracker.
	TrackerID string
	// Warning is a "warning message": the announce worked, but the
	// tracker has something to say.
	Warning string
}

// ScrapeStats are one swarm's counts from a scrape (BEP 48).
type ScrapeStats struct {
	Complete   int // seeders
	Downloaded int // completed downloads ever reported
	Incomplete int // leechers
}

// Client announces to and scrapes trackers over http, https and udp. The
// zero value is usable; a Client is safe for concurrent use.
type Client struct {
	// HTTP is used for http and https trackers; nil means a client with
	// sane timeouts and no cookies.
	HTTP *http.Client
	// Logger receives retries and warnings; nil discards them.
	Logger *slog.Logger

	// LookupHost resolves tracker names to their addresses; nil means
	// the system's resolver. Tests give names both families this way.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)

	ids connIDCache // UDP connection ids by tracker address
	// answered is, per UDP tracker host, the address that answered.
	answered udpAddrCache
	// families are the HTTP clients of announces by family (familyHTTP).
	families [3]struct {
		once   sync.Once
		client *http.Client
	}
}

// ErrFailure is wrapped by errors that carry a tracker's "failure reason"
// (or a UDP tracker's error message): the tracker understood the request
// and refused it, so retrying the same request is pointless.
var ErrFailure = errors.New("tracker refused the request")

// FailureError is the error a tracker returned in its "failure reason".
type FailureError struct {
	URL    string
	Reason string
}

func (e *FailureError) Error() string {
	return fmt.Sprintf("tracker %s refused: %s", e.URL, e.Reason)
}

// Unwrap makes errors.Is(err, ErrFailure) true.
func (e *FailureError) Unwrap() error { return ErrFailure }

// Announce sends req to the tracker at rawURL (http, https or udp) and
// returns its answer. Transient failures (network errors, timeouts, 5xx)
// are retried with exponential backoff and jitter until ctx ends; a
// tracker's refusal (errors.Is(err, ErrFailure)) is returned at once.
func (c *Client) Announce(ctx context.Context, rawURL string, req AnnounceRequest) (*AnnounceResponse, error) {
	var resp *AnnounceResponse
	err := c.retry(ctx, rawURL, func(ctx context.Context) error {
		var err error
		resp, err = c.announceOnce(ctx, rawURL, req)
		return err
	})
	return resp, err
}

// announceOnce makes one announce attempt, bounded by attemptTimeout.
func (c *Client) announceOnce(ctx context.Context, rawURL string, req AnnounceRequest) (*AnnounceResponse, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, permanent(fmt.Errorf("tracker URL %q: %w", rawURL, err))
	}
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	var resp *AnnounceResponse
	switch u.Scheme {
	case "http", "https":
		resp, err = c.announceHTTP(ctx, u, req)
	case "udp":
		resp, err = c.announceUDP(ctx, u, req)
	default:
		return nil, permanent(fmt.Errorf("tracker URL %q: unsupported scheme %q (want http, https or udp)", rawURL, u.Scheme))
	}
	if err != nil {
		return nil, familyError(req.Family, err)
	}
	if resp.Warning != "" {
		c.logger().Warn("tracker warning", "url", rawURL, "message", resp.Warning)
	}
	return resp, nil
}

// Scrape asks the tracker at rawURL for the counts of the given swarms,
// retrying like Announce. For an http(s) tracker the scrape URL is derived
// from the announce URL by the usual convention (the last path element
// "announce" becomes "scrape"); a URL without it cannot be scraped. Swarms
// the tracker does not know are absent from the map.
func (c *Client) Scrape(ctx context.Context, rawURL string, hashes ...[20]byte) (map[[20]byte]ScrapeStats, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("tracker URL %q: %w", rawURL, err)
	}
	if len(hashes) == 0 {
		return map[[20]byte]ScrapeStats{}, nil
	}
	var out map[[20]byte]ScrapeStats
	err = c.retry(ctx, rawURL, func(ctx context.Context) error {
		var err error
		switch u.Scheme {
		case "http", "https":
			out, err = c.scrapeHTTP(ctx, u, hashes)
		case "udp":
			out, err = c.scrapeUDP(ctx, u, hashes)
		default:
			return permanent(fmt.Errorf("tracker URL %q: unsupported scheme %q (want http, https or udp)", rawURL, u.Scheme))
		}
		return err
	})
	return out, err
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}
