package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

// trackerReportDelay is how long the first failure of a tracker waits
// before it is reported, so that the other torrents announcing to it at
// the same moment (a directory of 500 torrents) are counted in the same
// line.
const trackerReportDelay = 2 * time.Second

// trackerLog turns the announce failures of all of a Client's torrents
// into one warning per tracker and state change: "tracker HOST
// unreachable for N torrents, retrying" when it stops answering, "tracker
// HOST answers again" when it does (only after such a warning). Each
// torrent's failures, with the full error, are logged at debug level.
type trackerLog struct {
	ctx   context.Context // the Client's: no report after Close
	log   *slog.Logger
	delay time.Duration

	mu    sync.Mutex
	hosts map[string]*trackerHealth // by trackerKey
}

// trackerHealth is one tracker's (or tier list's) state.
type trackerHealth struct {
	failing  map[metainfo.Hash]bool // torrents whose last announce failed
	pending  bool                   // a report is scheduled
	reported bool                   // we warned that it is unreachable
}

func newTrackerLog(ctx context.Context, log *slog.Logger) *trackerLog {
	return &trackerLog{ctx: ctx, log: log, delay: trackerReportDelay, hosts: map[string]*trackerHealth{}}
}

// trackerKey names the trackers of a torrent's tiers for messages: their
// hosts (with ports), sorted, without the announce paths and passkeys.
func trackerKey(tiers [][]string) string {
	var hosts []string
	for _, tier := range tiers {
		for _, u := range tier {
			h := u
			if p, err := url.Parse(u); err == nil && p.Host != "" {
				h = p.Host
			}
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	slices.Sort(hosts)
	return strings.Join(hosts, ", ")
}

func (l *trackerLog) health(key string) *trackerHealth {
	h := l.hosts[key]
	if h == nil {
		h = &trackerHealth{failing: map[metainfo.Hash]bool{}}
		l.hosts[key] = h
	}
	return h
}

// failed records that ih's announce to the trackers key failed.
func (l *trackerLog) failed(key string, ih metainfo.Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.health(key)
	h.failing[ih] = true
	if !h.reported && !h.pending {
		h.pending = true
		time.AfterFunc(l.delay, func() { l.report(key) })
	}
}

// report warns that the trackers key are unreachable, when they still
// are for some torrent.
func (l *trackerLog) report(key string) {
	l.mu.Lock()
	h := l.health(key)
	h.pending = false
	n := len(h.failing)
	if n == 0 || l.ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	h.reported = true
	l.mu.Unlock()
	l.log.Warn(fmt.Sprintf("%s %s unreachable for %s, retrying", trackerNoun(key), key, plural.Count(n, "torrent", "torrents")),
		"tracker", key, "torrents", n)
}

// answered records that ih's announce to the trackers key succeeded.
func (l *trackerLog) answered(key string, ih metainfo.Hash) {
	l.mu.Lock()
	h := l.health(key)
	delete(h.failing, ih)
	again := h.reported
	h.reported = false
	l.mu.Unlock()
	if again {
		l.log.Warn(fmt.Sprintf("%s %s answers again", trackerNoun(key), key), "tracker", key)
	}
}

// forget drops ih, whose announces have ended, from the counts.
func (l *trackerLog) forget(key string, ih metainfo.Hash) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.health(key).failing, ih)
}

func trackerNoun(key string) string {
	if strings.Contains(key, ", ") {
		return "trackers"
	}
	return "tracker"
}
