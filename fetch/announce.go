package fetch

import (
	"context"
	"math/rand/v2"
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

// announceLoop announces the torrent as ih to tiers: "started", then
// periodically at the tracker's interval, and "completed" as soon as the
// download completes. The main loop (report) is the one whose failures
// are shown; a hybrid's second loop, for its truncated v2 info-hash
// (BEP 52, as libtorrent announces it), only logs them with -v.
func (t *Torrent) announceLoop(tiers *tracker.Tiers, ih metainfo.Hash, report bool) {
	defer t.wg.Done()
	cl := &tracker.Client{Logger: t.log}
	key := rand.Uint32()
	event := tracker.EventStarted
	completeCh := t.complete
	select {
	case <-completeCh:
		completeCh = nil // complete from the start: no "completed" to send
	default:
	}
	fails := 0
	hosts := trackerKey(tiers.URLs())
	if report {
		defer t.c.trackerLog.forget(hosts, ih)
	}
	for {
		req := t.announceRequest(ih, event, key)
		resp, url, err := cl.AnnounceTiers(t.ctx, tiers, req)
		wait := defaultInterval
		switch {
		case t.ctx.Err() != nil:
			return
		case err != nil:
			fails++
			wait = backoff(fails)
			// One warning for all torrents (trackerLog); each
			// torrent's own failure with -v.
			t.log.Debug("tracker announce failed", "infohash", ih, "err", err, "retry in", wait)
			if report {
				t.mu.Lock()
				t.lastError = "tracker: " + err.Error()
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
			t.log.Debug("tracker answered", "tracker", url, "peers", len(resp.Peers), "interval", wait)
			t.addPeersUnder(resp.Peers, nil, "", ih)
		}
		tm := time.NewTimer(wait)
	waiting:
		for {
			portChange := t.c.portChanges()
			// A change that came while the announce was under way
			// closed an earlier channel: compare before waiting.
			if t.c.announcePort() != req.Port {
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

func (t *Torrent) announceRequest(ih metainfo.Hash, ev tracker.Event, key uint32) tracker.AnnounceRequest {
	return tracker.AnnounceRequest{
		InfoHash:   ih,
		PeerID:     t.c.cfg.PeerID,
		Port:       t.c.announcePort(),
		Uploaded:   t.uploaded.Load(),
		Downloaded: t.downloaded.Load(),
		Left:       t.left(),
		Event:      ev,
		NumWant:    50,
		Key:        key,
	}
}

// announceStopped tells the trackers tiers that we leave torrent ih,
// bounded in time.
func (t *Torrent) announceStopped(ctx context.Context, tiers *tracker.Tiers, ih metainfo.Hash) {
	ctx, cancel := context.WithTimeout(ctx, stoppedTimeout)
	defer cancel()
	cl := &tracker.Client{Logger: t.log}
	if _, _, err := cl.AnnounceTiers(ctx, tiers, t.announceRequest(ih, tracker.EventStopped, 0)); err != nil {
		t.log.Debug("stopped announce failed", "err", err)
	}
}
