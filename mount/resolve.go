package mount

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

// Resolver fetches the metadata of a magnet link, as fetch.Client.Resolve
// does: it returns the torrent and the peers it found, reports progress
// as it goes, and returns an error wrapping ctx.Err() when ctx ends.
type Resolver func(ctx context.Context, m *metainfo.Magnet, opts fetch.TorrentOptions, progress func(fetch.ResolveStatus)) (*metainfo.MetaInfo, []string, error)

// LayerResolver fetches the piece hashes mi, a v2-only torrent whose
// 'piece layers' leave files out, lacks, adding them to mi.PieceLayers,
// as fetch.Client.ResolveLayers does: it returns the peers it found.
type LayerResolver func(ctx context.Context, mi *metainfo.MetaInfo, opts fetch.TorrentOptions, progress func(fetch.ResolveStatus)) ([]string, error)

// resolveRetryDelay is the pause before trying a magnet link again when
// the resolver gave up on its own (the mount still wants the torrent).
const resolveRetryDelay = 10 * time.Second

// Resolution states, as ResolvingStatus.State says them.
const (
	stateResolving = "resolving metadata"
	stateFailed    = "failed"
	stateResolved  = "resolved"
)

// resolution is one magnet link whose metadata is being fetched, or one
// v2-only .torrent whose missing piece hashes are, and what the
// placeholder file and the status page say about it.
type resolution struct {
	name   string
	magnet *metainfo.Magnet
	// known is the torrent when only its piece hashes are missing (a
	// v2-only .torrent whose piece layers leave files out); nil for a
	// magnet link. Its resolver fills it in.
	known *metainfo.MetaInfo
	start time.Time

	mu      sync.Mutex
	st      fetch.ResolveStatus
	lastErr string // the resolver's, or why the last attempt failed
	failed  string // why it stopped for good; "" while it goes on
	done    bool   // the metadata arrived
	stopped time.Time
}

func newResolution(name string, m *metainfo.Magnet) *resolution {
	return &resolution{name: name, magnet: m, start: time.Now()}
}

// newLayersResolution is the resolution of the piece hashes mi lacks.
func newLayersResolution(name string, mi *metainfo.MetaInfo) *resolution {
	return &resolution{name: name, magnet: mi.Magnet(), known: mi, start: time.Now()}
}

// progress records the resolver's status.
func (r *resolution) progress(st fetch.ResolveStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = st
	if st.LastError != "" {
		r.lastErr = st.LastError
	}
}

// attemptFailed records why an attempt ended, the resolution going on.
func (r *resolution) attemptFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastErr = err.Error()
}

// fail records that the resolution stopped for good.
func (r *resolution) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed, r.stopped = err.Error(), time.Now()
}

// succeed records that the metadata arrived: a placeholder still open
// says so when read again.
func (r *resolution) succeed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done, r.stopped = true, time.Now()
}

// what names what r resolves, for the log.
func (r *resolution) what() string {
	if r.known != nil {
		return "the piece hashes of a torrent file"
	}
	return "a magnet link"
}

// describe is the content of the placeholder file: one line saying what
// is going on (also the user.torfs.state attribute), then detail.
func (r *resolution) describe() string {
	rs := r.status()
	var b strings.Builder
	b.WriteString(rs.Message + "\n")
	if rs.LastError != "" && rs.State == stateResolving {
		fmt.Fprintf(&b, "last error: %s\n", rs.LastError)
	}
	switch rs.State {
	case stateResolving:
		if r.known != nil {
			b.WriteString("This v2-only torrent's .torrent file lacks piece hashes (its 'piece layers' leave files out): they are asked of its peers (BEP 52). The torrent's files replace this file as soon as they arrive.\n")
		} else {
			b.WriteString("The torrent's files replace this file as soon as its metadata arrives from a peer.\n")
		}
	case stateFailed:
		b.WriteString("Unmount and mount again to retry; --peer or --tracker help if you know where the torrent is seeded.\n")
	}
	fmt.Fprintf(&b, "magnet: %s\n", r.magnet)
	return b.String()
}

// status is the resolution's entry on the status page.
func (r *resolution) status() ResolvingStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := time.Now()
	if !r.stopped.IsZero() {
		end = r.stopped
	}
	elapsed := end.Sub(r.start).Truncate(time.Second)
	rs := ResolvingStatus{
		Name: r.name, InfoHash: r.magnet.InfoHash.String(), State: stateResolving,
		Peers: r.st.Peers, Connected: r.st.Connected, Have: r.st.Have, Total: r.st.Total,
		LastError: r.lastErr, Seconds: elapsed.Seconds(),
	}
	what, pieces := "metadata", "metadata size not known yet"
	if r.st.Total > 0 {
		pieces = fmt.Sprintf("%d/%d pieces", r.st.Have, r.st.Total)
	}
	if r.known != nil {
		// The metadata is the .torrent's: only hashes are missing.
		what, pieces = "piece hashes", "no piece hashes received yet"
	}
	if r.st.HashPartsTotal > 0 {
		pieces = fmt.Sprintf("piece hashes %d/%d parts", r.st.HashParts, r.st.HashPartsTotal)
		if r.known == nil {
			pieces = "metadata received, " + pieces
		}
	}
	verb := "resolving " + what
	rs.HashParts, rs.HashPartsTotal = r.st.HashParts, r.st.HashPartsTotal
	rs.Message = fmt.Sprintf("%s for %s (%s): %s, %d connected, %s, %s",
		verb, r.name, rs.InfoHash, plural.Count(r.st.Peers, "peer", "peers"), r.st.Connected, pieces, formatElapsed(elapsed))
	switch {
	case r.done:
		rs.State = stateResolved
		rs.Message = fmt.Sprintf("%s for %s (%s) resolved after %s; its files are shown",
			what, r.name, rs.InfoHash, formatElapsed(elapsed))
	case r.failed != "":
		rs.State = stateFailed
		rs.LastError = r.failed
		rs.Message = fmt.Sprintf("%s for %s (%s) stopped after %s: %s",
			verb, r.name, rs.InfoHash, formatElapsed(elapsed), r.failed)
	}
	return rs
}

// formatElapsed writes d for a person: "12 s", "3 min 4 s", "2 h 5 min".
func formatElapsed(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %d min", s/3600, s%3600/60)
}

// resolve runs the resolver until it returns the torrent or ctx ends,
// trying again after a pause when an attempt fails on its own.
func (s *Session) resolve(ctx context.Context, r *resolution) (*metainfo.MetaInfo, []string, error) {
	opts := fetch.TorrentOptions{Trackers: s.cfg.Trackers, Peers: s.cfg.Peers}
	if s.cfg.ResolveTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ResolveTimeout)
		defer cancel()
	}
	for {
		mi, peers, err := s.resolveOnce(ctx, r, opts)
		if err == nil && mi == nil {
			err = errors.New("the resolver returned no torrent")
		}
		if err == nil && !r.magnet.Names(mi) {
			err = fmt.Errorf("the resolver returned torrent %s, not %s", mi.InfoHash, r.magnet.InfoHash)
		}
		if err == nil {
			return mi, peers, nil
		}
		if ctx.Err() != nil {
			return nil, nil, s.gaveUp(ctx, r, err)
		}
		r.attemptFailed(err)
		s.log.Warn("resolving "+r.what()+" failed; trying again", "name", r.name, "infohash", r.magnet.InfoHash, "err", err, "in", s.retryDelay)
		t := time.NewTimer(s.retryDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, s.gaveUp(ctx, r, fmt.Errorf("%w (last error: %v)", ctx.Err(), err))
		case <-t.C:
		}
	}
}

// resolveOnce is one attempt of the resolver r needs.
func (s *Session) resolveOnce(ctx context.Context, r *resolution, opts fetch.TorrentOptions) (*metainfo.MetaInfo, []string, error) {
	if r.known == nil {
		return s.cfg.Resolver(ctx, r.magnet, opts, r.progress)
	}
	peers, err := s.cfg.LayerResolver(ctx, r.known, opts, r.progress)
	if err == nil && !r.known.HasAllHashesV2() {
		err = fmt.Errorf("the piece hashes received leave pieces of %s without a hash", r.known.Info.Name)
	}
	return r.known, peers, err
}

// gaveUp records why r stopped, as the user reads it, and returns it.
func (s *Session) gaveUp(ctx context.Context, r *resolution, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && s.cfg.ResolveTimeout > 0 {
		err = fmt.Errorf("gave up after %s (the resolve timeout): %w", s.cfg.ResolveTimeout, err)
	}
	r.fail(err)
	return err
}

// track shows r on the status page until untrack.
func (s *Session) track(r *resolution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolving[r.name] = r
}

func (s *Session) untrack(r *resolution) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resolving[r.name] == r {
		delete(s.resolving, r.name)
	}
}
