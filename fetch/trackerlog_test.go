package fetch

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
)

// countingHandler keeps the message and level of every record and tells
// waiters of each new one.
type countingHandler struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{}
}

func newCountingHandler() *countingHandler {
	return &countingHandler{changed: make(chan struct{}, 1)}
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	select {
	case h.changed <- struct{}{}:
	default:
	}
	return nil
}

// count counts the records at level whose message matches re.
func (h *countingHandler) count(level slog.Level, re *regexp.Regexp) (n int, msgs []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		if r.Level == level && re.MatchString(r.Message) {
			n++
			msgs = append(msgs, r.Message)
		}
	}
	return n, msgs
}

// waitFor waits until cond holds, rechecking at every new record.
func (h *countingHandler) waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(d)
	for !cond() {
		select {
		case <-h.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTrackerDownWarnsOncePerTracker: 40 torrents whose tracker refuses
// connections fail their announces again and again, but the log at the
// default level says so in one line for them all; each failure is a
// debug line.
func TestTrackerDownWarnsOncePerTracker(t *testing.T) {
	const torrents = 40
	h := newCountingHandler()
	c := newTestClient(t, Config{Logger: slog.New(h)})
	dead := "http://127.0.0.1:9/announce" // discard: nothing listens on loopback
	for i := range torrents {
		mi, _ := testTorrent(t, int64(64<<10+i), 16<<10)
		addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Trackers: [][]string{{dead}}})
	}
	failure := regexp.MustCompile(`^tracker announce failed$`)
	unreachable := regexp.MustCompile(`^tracker 127\.0\.0\.1:9 unreachable for \d+ torrents?, retrying$`)
	anyTrackerWarning := regexp.MustCompile(`(?i)tracker`)
	// Every torrent fails twice: its first announce and its retry.
	h.waitFor(t, 2*time.Minute, "two failed announces per torrent", func() bool {
		n, _ := h.count(slog.LevelDebug, failure)
		return n >= 2*torrents
	})
	if n, msgs := h.count(slog.LevelWarn, unreachable); n != 1 {
		t.Errorf("%d warnings that the tracker is unreachable, want 1: %q", n, msgs)
	}
	if n, msgs := h.count(slog.LevelWarn, anyTrackerWarning); n != 1 {
		t.Errorf("%d warnings about the tracker in all, want 1: %q", n, msgs)
	}
}

// TestTrackerLogStateChanges: a warning when a tracker stops answering
// (counting the torrents), one when it answers again, and one more when
// it stops again; nothing for failures in between.
func TestTrackerLogStateChanges(t *testing.T) {
	h := newCountingHandler()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newTrackerLog(ctx, slog.New(h))
	l.delay = time.Millisecond
	a, b := metainfo.Hash{1}, metainfo.Hash{2}
	down := regexp.MustCompile(`unreachable`)
	up := regexp.MustCompile(`answers again`)

	l.failed("t.example:80", a)
	l.failed("t.example:80", b)
	h.waitFor(t, 10*time.Second, "the first warning", func() bool { n, _ := h.count(slog.LevelWarn, down); return n == 1 })
	l.failed("t.example:80", a) // still down: nothing new
	l.answered("t.example:80", a)
	h.waitFor(t, 10*time.Second, "the recovery", func() bool { n, _ := h.count(slog.LevelWarn, up); return n == 1 })
	l.answered("t.example:80", b) // already said
	l.failed("t.example:80", a)
	h.waitFor(t, 10*time.Second, "the second warning", func() bool { n, _ := h.count(slog.LevelWarn, down); return n == 2 })
	if n, msgs := h.count(slog.LevelWarn, regexp.MustCompile(`.`)); n != 3 {
		t.Errorf("%d warnings, want 3 (down, up, down): %q", n, msgs)
	}
	_, msgs := h.count(slog.LevelWarn, down)
	if !strings.HasPrefix(msgs[0], "tracker t.example:80 unreachable for ") {
		t.Errorf("first warning %q", msgs[0])
	}
}

func TestTrackerKey(t *testing.T) {
	if got := trackerKey([][]string{{"http://b.example:6969/announce?passkey=x"}, {"udp://a.example:1337", "http://b.example:6969/other"}}); got != "a.example:1337, b.example:6969" {
		t.Errorf("trackerKey = %q", got)
	}
}
