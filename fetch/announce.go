package fetch

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/tracker"
)

const (
	// defaultInterval applies when a tracker gives none.
	defaultInterval = 30 * time.Minute
	// minInterval protects trackers from a bogus tiny interval.
	minInterval = 10 * time.Second
	// stoppedTimeout bounds the "stopped" announce on Close, so that a
	// dead tracker does not hold up the exit of torfs get (libtorrent's
	// stop_tracker_timeout is 1 s too).
	stoppedTimeout = time.Second
)

// startAnnounces starts the announce loops of ih to tiers, one per
// address family we announce in (announceFamilies).
func (t *Torrent) startAnnounces(tiers *tracker.Tiers, ih metainfo.Hash, report bool) {
	fams := t.c.announceFamilies()
	reach := newFamilyReach(len(fams))
	for _, fam := range fams {
		t.wg.Add(1)
		go t.announceLoop(tiers, ih, report, fam, reach)
	}
}

// familyReach tells the announce loops of one torrent, one per family,
// when none of them reaches its trackers: a family that cannot reach
// them is no failure while another can, but when every family fails so
// (an offline host; an IPv4-only host whose trackers have only IPv6
// addresses) the trackers are unreachable, to report as any failure.
type familyReach struct {
	mu          sync.Mutex
	families    int
	unreachable map[tracker.Family]bool
}

func newFamilyReach(families int) *familyReach {
	return &familyReach{families: families, unreachable: map[tracker.Family]bool{}}
}

// note records whether fam's last announce found no tracker reachable
// over fam, and reports whether every family's last announce did.
func (f *familyReach) note(fam tracker.Family, unreachable bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if unreachable {
		f.unreachable[fam] = true
	} else {
		delete(f.unreachable, fam)
	}
	return len(f.unreachable) == f.families
}

// announceFamilies are the address families the Client announces in.
// Listening on both IPv4 and IPv6 (Go's wildcard listener is dual-stack)
// it announces over each, with announce state of its own (BEP 7; as
// libtorrent announces per listen socket): a tracker learns our address
// in each family, and answers with the peers it knows in each. Listening
// on one family, one announce goes over whichever family works.
func (c *Client) announceFamilies() []tracker.Family {
	var v4, v6 bool
	for _, ln := range c.lns {
		ap, ok := addrPort(ln.Addr())
		if !ok {
			continue
		}
		switch ip := ap.Addr(); {
		case ip.Is6() && ip.IsUnspecified():
			v4, v6 = true, true
		case ip.Unmap().Is4():
			v4 = true
		default:
			v6 = true
		}
	}
	if v4 && v6 {
		return []tracker.Family{tracker.IPv4, tracker.IPv6}
	}
	return []tracker.Family{tracker.AnyFamily}
}

// trackerClient is the tracker client of one announce loop.
func (c *Client) trackerClient(log *slog.Logger) *tracker.Client {
	return &tracker.Client{Logger: log, LookupHost: c.cfg.trackerLookup}
}

// announceLoop announces the torrent as ih to tiers over family fam:
// "started", then periodically at the tracker's interval, and "completed"
// as soon as the download completes. The main loop (report) is the one
// whose failures are shown; a hybrid's second loop, for its truncated v2
// info-hash (BEP 52, as libtorrent announces it), only logs them with -v.
// A family that reaches no tracker (no address of it, no route) is no
// failure while another family does (reach): it is tried again at the
// default interval, quietly.
func (t *Torrent) announceLoop(tiers *tracker.Tiers, ih metainfo.Hash, report bool, fam tracker.Family, reach *familyReach) {
	defer t.wg.Done()
	cl := t.c.trackerClient(t.log)
	key := rand.Uint32()
	event := tracker.EventStarted
	completeCh := t.complete
	select {
	case <-completeCh:
		completeCh = nil // complete from the start: no "completed" to send
	default:
	}
	fails := 0
	// With an announce per family, each is reported on its own.
	hosts, over := trackerKey(tiers.URLs()), ""
	if fam != tracker.AnyFamily {
		over = " over " + fam.String()
		hosts += over
	}
	if report {
		defer t.c.trackerLog.forget(hosts, ih)
	}
	for {
		req := t.announceRequest(ih, event, key, fam)
		resp, url, err := cl.AnnounceTiers(t.ctx, tiers, req)
		wait := defaultInterval
		if t.ctx.Err() != nil {
			return
		}
		famErr := errors.Is(err, tracker.ErrFamilyUnreachable)
		none := reach.note(fam, famErr)
		switch {
		case famErr && !none:
			fails = 0
			t.log.Debug("no tracker reachable over this family", "family", fam, "infohash", ih, "err", err, "retry in", wait)
			if report {
				t.c.trackerLog.forget(hosts, ih)
			}
		case err != nil:
			fails++
			wait = backoff(fails)
			// One warning for all torrents (trackerLog); each
			// torrent's own failure with -v.
			t.log.Debug("tracker announce failed", "infohash", ih, "family", fam, "err", err, "retry in", wait)
			if report {
				t.mu.Lock()
				t.lastError = "tracker" + over + ": " + err.Error()
				t.mu.Unlock()
				t.c.trackerLog.failed(hosts, ih)
			}
		default:
			fails = 0
			if report {
				t.c.trackerLog.answered(hosts, ih)
			}
			event = tracker.EventNone
			if resp.Warning != "" && report {
				t.log.Warn("tracker warning", "tracker", url, "warning", resp.Warning)
			}
			if resp.Interval > 0 {
				wait = max(resp.Interval, minInterval)
			}
			t.log.Debug("tracker answered", "tracker", url, "family", fam, "peers", len(resp.Peers), "interval", wait)
			t.addPeersUnder(resp.Peers, nil, "", ih)
		}
		tm := time.NewTimer(wait)
	waiting:
		for {
			portChange := t.c.portChanges()
			// A change that came while the announce was under way
			// closed an earlier channel: compare before waiting.
			if t.c.announcePortFor(fam) != req.Port {
				tm.Stop()
				break waiting
			}
			select {
			case <-t.ctx.Done():
				tm.Stop()
				return
			case <-tm.C:
				break waiting
			case <-completeCh:
				tm.Stop()
				completeCh = nil
				if event == tracker.EventNone {
					event = tracker.EventCompleted
				}
				break waiting
			case <-portChange:
				// The router forwards another port to us now: tell
				// the trackers at once (checked above), unless it is
				// the one they know.
			}
		}
	}
}

func (t *Torrent) announceRequest(ih metainfo.Hash, ev tracker.Event, key uint32, fam tracker.Family) tracker.AnnounceRequest {
	return tracker.AnnounceRequest{
		InfoHash:   ih,
		PeerID:     t.c.cfg.PeerID,
		Port:       t.c.announcePortFor(fam),
		Family:     fam,
		Uploaded:   t.uploaded.Load(),
		Downloaded: t.downloaded.Load(),
		Left:       t.left(),
		Event:      ev,
		NumWant:    50,
		Key:        key,
	}
}

// announceStopped tells the trackers tiers that we leave torrent ih,
// over each family we announced in at once, bounded in time.
func (t *Torrent) announceStopped(ctx context.Context, tiers *tracker.Tiers, ih metainfo.Hash) {
	ctx, cancel := context.WithTimeout(ctx, stoppedTimeout)
	defer cancel()
	cl := t.c.trackerClient(t.log)
	var wg sync.WaitGroup
	for _, fam := range t.c.announceFamilies() {
		wg.Go(func() {
			if _, _, err := cl.AnnounceTiers(ctx, tiers, t.announceRequest(ih, tracker.EventStopped, 0, fam)); err != nil {
				t.log.Debug("stopped announce failed", "family", fam, "err", err)
			}
		})
	}
	wg.Wait()
}

// announcePortFor is the port announced over fam: the port the router
// forwards to us is an IPv4 one (NAT), so over IPv6 the one we listen on.
func (c *Client) announcePortFor(fam tracker.Family) uint16 {
	if fam == tracker.IPv6 {
		return c.listenPort()
	}
	return c.announcePort()
}
