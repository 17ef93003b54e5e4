package harness

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ltScript drives Debian's python3-libtorrent; see lt.py for its events.
//
//go:embed lt.py
var ltScript []byte

// Python is the interpreter that has python3-libtorrent. The python3 on
// PATH may be another one without it.
const Python = "/usr/bin/python3"

// startTimeout bounds how long a helper waits for a program to come up.
const startTimeout = 30 * time.Second

// Mode says whether a libtorrent peer seeds or leeches.
type Mode string

// The libtorrent modes.
const (
	Seed  Mode = "seed"
	Leech Mode = "leech"
)

// LibtorrentOptions configures a libtorrent peer. Zero values are the
// loopback defaults: listen on 127.0.0.1 at a free port, no limits.
type LibtorrentOptions struct {
	Mode    Mode
	Torrent string // path of the .torrent
	// Magnet, instead of Torrent, is a magnet link: libtorrent gets the
	// metadata, and a v2 torrent's piece layers, from its peers.
	Magnet string
	// Save is libtorrent's save_path: the directory that holds (seed) or
	// receives (leech) the torrent's Info.Name. "" = a new temp dir.
	Save string
	// Listen is HOST:PORT; "" = 127.0.0.1:0 (libtorrent picks the port).
	Listen string
	// IPv6 also listens on [::1], at the same port as on IPv4.
	IPv6 bool
	// Peers are HOST:PORT addresses libtorrent connects to at start.
	Peers []string
	// Trackers are announce URLs added to the torrent's own;
	// ReplaceTrackers drops the torrent's own.
	Trackers        []string
	ReplaceTrackers bool
	// SeedMode trusts the seed's data without checking it first (fast start
	// for big benchmark files); otherwise libtorrent checks every piece.
	SeedMode bool
	// UploadLimit and DownloadLimit are bytes per second; 0 = unlimited.
	UploadLimit, DownloadLimit int64
	// MaxConnections caps libtorrent's connections; 0 = 500.
	MaxConnections int
	// ExitOnComplete makes a leecher exit once it has everything.
	ExitOnComplete bool
	// Interval between status events; 0 = 200 ms.
	Interval time.Duration
	// NoBlockLog stops counting blocks per peer (LibtorrentPeer's
	// BytesReceived/BytesSent stay 0): benchmarks, where every alert costs.
	NoBlockLog bool
	// DHTBootstrap are HOST:PORT DHT nodes to bootstrap from; set, they
	// turn libtorrent's DHT on with its same-IP restrictions off (every
	// loopback node shares 127.0.0.1). Empty = no DHT.
	DHTBootstrap []string
	// ForceEncryption makes libtorrent speak only MSE/PE with RC4, both
	// ways (out_enc_policy and in_enc_policy pe_forced, allowed_enc_level
	// pe_rc4); otherwise it speaks plaintext only.
	ForceEncryption bool
	// UTPOnly makes libtorrent speak uTP only, TCP off; by default it
	// speaks TCP only.
	UTPOnly bool
}

// Libtorrent is a running libtorrent peer (lt.py under /usr/bin/python3).
type Libtorrent struct {
	proc *Process
	opts LibtorrentOptions
	dir  string // temp dir owned by this peer: the script, maybe Save

	listening chan struct{} // closed at the "listening" event
	finished  chan struct{} // closed at the "finished" event
	announced chan struct{} // closed at the first "tracker_reply" event

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every status event
	port     int
	status   LibtorrentStatus
	elapsed  time.Duration // from adding the torrent to finishing
	replies  int           // tracker replies so far
	story    []string      // the last storyLines events other than status
	badLines []string      // lines of lt.py that did not parse: a harness bug
	errors   []string
	partial  []byte // stdout bytes after the last newline
}

// StartLibtorrent starts a libtorrent peer and waits until it listens. The
// peer is stopped, and its temp files removed, when the test ends; a
// failed test logs the peer's output.
func StartLibtorrent(tb testing.TB, opts LibtorrentOptions) *Libtorrent {
	tb.Helper()
	Require(tb, "python3-libtorrent")
	if opts.Save == "" {
		opts.Save = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	lt, err := LaunchLibtorrent(ctx, opts)
	if err != nil {
		tb.Fatalf("start libtorrent %s: %v", opts.Mode, err)
	}
	cleanupLibtorrent(tb, lt)
	return lt
}

// cleanupLibtorrent stops lt when the test ends and removes its temp
// files, failing the test if lt.py and lt.go disagreed on a line.
func cleanupLibtorrent(tb testing.TB, lt *Libtorrent) {
	cleanupProcess(tb, lt.proc)
	tb.Cleanup(func() {
		_ = os.RemoveAll(lt.dir)
		lt.mu.Lock()
		defer lt.mu.Unlock()
		if len(lt.badLines) > 0 {
			tb.Errorf("harness bug: lt.py and lt.go disagree: %q", lt.badLines)
		}
	})
}

// LaunchLibtorrent is StartLibtorrent for programs without a testing.TB
// (benchmarks): the caller must call Close.
func LaunchLibtorrent(ctx context.Context, opts LibtorrentOptions) (*Libtorrent, error) {
	if opts.Mode != Seed && opts.Mode != Leech {
		return nil, fmt.Errorf("libtorrent mode %q: want %q or %q", opts.Mode, Seed, Leech)
	}
	if (opts.Torrent == "") == (opts.Magnet == "") {
		return nil, errors.New("libtorrent needs a .torrent file (LibtorrentOptions.Torrent) or a magnet link (Magnet), not both")
	}
	dir, err := os.MkdirTemp("", "torfs-lt-")
	if err != nil {
		return nil, fmt.Errorf("temp dir for libtorrent: %w", err)
	}
	script := filepath.Join(dir, "lt.py")
	if err := os.WriteFile(script, ltScript, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("write libtorrent driver: %w", err)
	}
	if opts.Save == "" {
		opts.Save = filepath.Join(dir, "save")
		if err := os.Mkdir(opts.Save, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("libtorrent save dir: %w", err)
		}
	}
	lt := &Libtorrent{
		opts:      opts,
		dir:       dir,
		listening: make(chan struct{}),
		finished:  make(chan struct{}),
		announced: make(chan struct{}),
		changed:   make(chan struct{}),
	}
	lt.proc, err = startProcess(procSpec{
		name:   "libtorrent " + string(opts.Mode),
		path:   Python,
		args:   append([]string{script}, ltArgs(opts)...),
		stdout: ltEvents{lt},
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	select {
	case <-lt.listening:
		return lt, nil
	case <-lt.proc.Done():
		err = fmt.Errorf("libtorrent exited before listening\n%s", lt.proc.Output())
	case <-ctx.Done():
		err = fmt.Errorf("libtorrent did not listen: %w\n%s", ctx.Err(), lt.proc.Output())
	}
	_ = lt.Close()
	return nil, err
}

func ltArgs(o LibtorrentOptions) []string {
	args := []string{string(o.Mode), "--torrent", o.Torrent, "--save", o.Save}
	if o.Magnet != "" {
		args = []string{string(o.Mode), "--magnet", o.Magnet, "--save", o.Save}
	}
	if o.Listen != "" {
		args = append(args, "--listen", o.Listen)
	}
	if o.IPv6 {
		args = append(args, "--ipv6")
	}
	for _, p := range o.Peers {
		args = append(args, "--peer", p)
	}
	for _, t := range o.Trackers {
		args = append(args, "--tracker", t)
	}
	if o.ReplaceTrackers {
		args = append(args, "--replace-trackers")
	}
	if o.SeedMode {
		args = append(args, "--seed-mode")
	}
	if o.UploadLimit > 0 {
		args = append(args, "--upload-limit", strconv.FormatInt(o.UploadLimit, 10))
	}
	if o.DownloadLimit > 0 {
		args = append(args, "--download-limit", strconv.FormatInt(o.DownloadLimit, 10))
	}
	if o.MaxConnections > 0 {
		args = append(args, "--max-connections", strconv.Itoa(o.MaxConnections))
	}
	if o.ExitOnComplete {
		args = append(args, "--exit-on-complete")
	}
	if o.NoBlockLog {
		args = append(args, "--no-block-log")
	}
	for _, b := range o.DHTBootstrap {
		args = append(args, "--dht-bootstrap", b)
	}
	if o.ForceEncryption {
		args = append(args, "--encryption", "forced")
	}
	if o.UTPOnly {
		args = append(args, "--utp-only")
	}
	interval := o.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	return append(args, "--interval", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64))
}

// Port is the TCP port libtorrent listens on.
func (lt *Libtorrent) Port() int {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.port
}

// Addr is "127.0.0.1:PORT", what other peers dial (--peer).
func (lt *Libtorrent) Addr() string { return "127.0.0.1:" + strconv.Itoa(lt.Port()) }

// Addr6 is "[::1]:PORT", where an IPv6 listener (LibtorrentOptions.IPv6)
// accepts.
func (lt *Libtorrent) Addr6() string { return "[::1]:" + strconv.Itoa(lt.Port()) }

// Save is the save_path: the directory holding the torrent's Info.Name.
func (lt *Libtorrent) Save() string { return lt.opts.Save }

// Status is the latest status report.
func (lt *Libtorrent) Status() LibtorrentStatus {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.status
}

// Progress is the fraction of wanted bytes libtorrent has verified, 0..1.
func (lt *Libtorrent) Progress() float64 { return lt.Status().Progress }

// Peers are all peers libtorrent has been connected to, with their client
// names, ids and the payload bytes exchanged with each.
func (lt *Libtorrent) Peers() []LibtorrentPeer { return lt.Status().PeersSeen }

// Errors are the errors libtorrent reported (hash failures, file errors).
func (lt *Libtorrent) Errors() []string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return append([]string(nil), lt.errors...)
}

// Elapsed is how long libtorrent took from adding the torrent to finishing
// it; 0 before it finished.
func (lt *Libtorrent) Elapsed() time.Duration {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.elapsed
}

// Connect makes libtorrent dial peers (HOST:PORT) now, e.g. a torfs
// seeder started after it.
func (lt *Libtorrent) Connect(addrs ...string) error {
	for _, a := range addrs {
		if strings.ContainsAny(a, " \n") {
			return fmt.Errorf("libtorrent connect: bad address %q", a)
		}
		if _, err := io.WriteString(lt.proc.stdin, "connect "+a+"\n"); err != nil {
			return fmt.Errorf("libtorrent connect %s: %w", a, err)
		}
	}
	return nil
}

// DHTAnnounce makes libtorrent announce its torrent to the DHT now
// (LibtorrentOptions.DHTBootstrap), instead of at its own pace.
func (lt *Libtorrent) DHTAnnounce() error {
	if _, err := io.WriteString(lt.proc.stdin, "dht-announce\n"); err != nil {
		return fmt.Errorf("libtorrent dht-announce: %w", err)
	}
	return nil
}

// Process is the underlying process (output, exit, signals).
func (lt *Libtorrent) Process() *Process { return lt.proc }

// Stop ends libtorrent (SIGTERM, then SIGKILL after a grace period).
func (lt *Libtorrent) Stop() error { return lt.proc.Stop() }

// Close stops libtorrent and removes its temp files (for LaunchLibtorrent
// callers; StartLibtorrent does it at cleanup).
func (lt *Libtorrent) Close() error {
	err := lt.proc.Stop()
	if rmErr := os.RemoveAll(lt.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("remove libtorrent temp dir: %w", rmErr)
	}
	return err
}
