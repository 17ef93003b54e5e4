package tracker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
)

// Tiers is a torrent's tracker list in BEP 12 order: tiers are tried in
// order, the URLs within a tier in an order shuffled once, and a URL that
// answers moves to the front of its tier so that it is asked first next
// time. It also keeps the "tracker id" each tracker gave, to send it
// back to that tracker only. A Tiers is safe for concurrent use.
type Tiers struct {
	mu    sync.Mutex
	tiers [][]string
	ids   map[string]string // tracker id by announce URL
}

// NewTiers copies tiers (as from metainfo's Trackers), drops empty URLs
// and tiers, and shuffles each tier.
func NewTiers(tiers [][]string) *Tiers {
	t := &Tiers{}
	for _, tier := range tiers {
		var urls []string
		for _, u := range tier {
			if u != "" {
				urls = append(urls, u)
			}
		}
		if len(urls) == 0 {
			continue
		}
		rand.Shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
		t.tiers = append(t.tiers, urls)
	}
	return t
}

// URLs returns the tiers in their current order.
func (t *Tiers) URLs() [][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([][]string, len(t.tiers))
	for i, tier := range t.tiers {
		out[i] = append([]string(nil), tier...)
	}
	return out
}

// trackerID is the tracker id kept under key (idKey), or "".
func (t *Tiers) trackerID(key string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ids[key]
}

// TrackerIDs returns the tracker ids the trackers gave, by announce URL
// (followed by " IPv4" or " IPv6" for those of announces restricted to
// one family).
func (t *Tiers) TrackerIDs() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.ids)
}

// AdoptTrackerIDs takes over tracker ids that trackers gave to another
// Tiers of the same torrent (the one that found a magnet link's peers),
// for the URLs that have given t none yet, so that they are sent back from
// the first announce.
func (t *Tiers) AdoptTrackerIDs(ids map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for url, id := range ids {
		if id == "" || t.ids[url] != "" {
			continue
		}
		if t.ids == nil {
			t.ids = make(map[string]string)
		}
		t.ids[url] = id
	}
}

// answered records that url answered resp: it moves to the front of its
// tier, and its tracker id is kept under key (idKey). An answer without
// one keeps the earlier id, as BEP 3 asks.
func (t *Tiers) answered(url, key string, resp *AnnounceResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if resp.TrackerID != "" {
		if t.ids == nil {
			t.ids = make(map[string]string)
		}
		t.ids[key] = resp.TrackerID
	}
	for _, tier := range t.tiers {
		for j, u := range tier {
			if u == url {
				copy(tier[1:j+1], tier[:j])
				tier[0] = url
				return
			}
		}
	}
}

// ErrNoTrackers is returned by AnnounceTiers when the list is empty.
var ErrNoTrackers = errors.New("the torrent lists no trackers")

// AnnounceTiers announces to the first tracker of t that answers, in BEP 12
// order, and returns its answer and URL. Each tracker gets one attempt
// (bounded by ctx and a per-request timeout) rather than retries: the
// next tracker is the better retry. When none answers the errors of all
// are returned together, and the caller retries later.
//
// req.TrackerID is ignored: each tracker is sent the tracker id it gave
// in an earlier answer, which t keeps per URL (and per req.Family), so
// whoever announces through t sends it back without keeping it.
//
// With req.Family set, trackers that family cannot reach are skipped;
// when no tracker is reachable over it the error wraps
// ErrFamilyUnreachable, and only then.
func (c *Client) AnnounceTiers(ctx context.Context, t *Tiers, req AnnounceRequest) (*AnnounceResponse, string, error) {
	var errs, unreachable []error
	for _, tier := range t.URLs() {
		for _, url := range tier {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
			key := idKey(url, req.Family)
			req.TrackerID = t.trackerID(key)
			resp, err := c.announceOnce(ctx, url, req)
			switch {
			case errors.Is(err, ErrFamilyUnreachable):
				unreachable = append(unreachable, err)
			case err != nil:
				errs = append(errs, err)
			default:
				t.answered(url, key, resp)
				return resp, url, nil
			}
		}
	}
	switch {
	case len(errs) > 0:
		// Said, but not wrapped: the trackers that can be reached failed.
		for _, err := range unreachable {
			errs = append(errs, errors.New(err.Error()))
		}
		return nil, "", fmt.Errorf("no tracker answered: %w", errors.Join(errs...))
	case len(unreachable) > 0:
		return nil, "", fmt.Errorf("no tracker reachable over %s: %w", req.Family, errors.Join(unreachable...))
	}
	return nil, "", ErrNoTrackers
}

// idKey is what a tracker id is kept under: the URL, and the family of
// the announces that got it (the tracker sees another peer in each).
func idKey(url string, fam Family) string {
	if fam == AnyFamily {
		return url
	}
	return url + " " + fam.String()
}
