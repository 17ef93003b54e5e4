package fetch

import (
	"context"
	"math/rand/v2"
	"time"

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

// announceLoop announces "started", then periodically at the tracker's
// interval, and "completed" as soon as the download completes.
func (t *Torrent) announceLoop() {
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
	hosts := trackerKey(t.trackers.URLs())
	defer t.c.trackerLog.forget(hosts, t.mi.InfoHash)
	for {
		req := t.announceRequest(event, key)
		resp, url, err := cl.AnnounceTiers(t.ctx, t.trackers, req)
		wait := defaultInterval
		switch {
		case t.ctx.Err() != nil:
			return
		case err != nil:
			fails++
			wait = backoff(fails)
			t.mu.Lock()
			t.lastError = "tracker: " + err.Error()
			t.mu.Unlock()
			// One warning for all torrents (trackerLog); each
			// torrent's own failure with -v.
			t.log.Debug("tracker announce failed", "err", err, "retry in", wait)
			t.c.trackerLog.failed(hosts, t.mi.InfoHash)
		default:
			fails = 0
			t.c.trackerLog.answered(hosts, t.mi.InfoHash)
			event = tracker.EventNone
			if resp.Warning != "" {
				t.log.Warn("tracker warning", "tracker", url, "warning", resp.Warning)
			}
			if resp.Interval > 0 {
				wait = max(resp.Interval, minInterval)
			}
			t.log.Debug("tracker answered", "tracker", url, "peers", len(resp.Peers), "interval", wait)
			t.addPeers(resp.Peers, nil, "")
		}
		tm := time.NewTimer(wait)
	waiting:
		for {
			portChange := t.c.portChanges()
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
				// the trackers at once, unless it is the one they know.
				if t.c.announcePort() != req.Port {
					tm.Stop()
					break waiting
				}
			}
		}
	}
}

func (t *Torrent) announceRequest(ev tracker.Event, key uint32) tracker.AnnounceRequest {
	return tracker.AnnounceRequest{
		InfoHash:   t.mi.InfoHash,
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

// announceStopped tells the trackers we leave, bounded in time.
func (t *Torrent) announceStopped(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, stoppedTimeout)
	defer cancel()
	cl := &tracker.Client{Logger: t.log}
	if _, _, err := cl.AnnounceTiers(ctx, t.trackers, t.announceRequest(tracker.EventStopped, 0)); err != nil {
		t.log.Debug("stopped announce failed", "err", err)
	}
}
