package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/bencode"

	"github.com/torfs/torfs/integration/harness"
)

// TestHarnessLibtorrentTransfer proves the libtorrent driver: one seeder
// that checks its data, one leecher told where it is with --peer, no
// tracker, 16 MiB byte-identical, and each side names the other.
func TestHarnessLibtorrentTransfer(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	file := filepath.Join(src, "data.bin")
	harness.RandomFile(t, file, 16<<20, 1)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{PieceLength: 256 << 10})

	ctx := harness.Context(t, 60*time.Second)
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatalf("seeder's data check: %v", err)
	}
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{seed.Addr()},
	})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, file, filepath.Join(leech.Save(), "data.bin"))
	// libtorrent's piece count may trail its "finished" state by a status
	// update: wait (bounded) for it to settle before asserting.
	complete := func(st harness.LibtorrentStatus) bool { return st.TotalDone == 16<<20 && st.NumPieces == 64 }
	_ = leech.WaitStatus(harness.Context(t, 10*time.Second), complete)
	if st := leech.Status(); !complete(st) {
		t.Errorf("leecher finished with %d bytes in %d pieces, want %d in 64", st.TotalDone, st.NumPieces, 16<<20)
	}
	if errs := leech.Errors(); len(errs) > 0 {
		t.Errorf("leecher reported errors: %q", errs)
	}

	// The leecher dialled the seeder's listening port and counts every
	// block as coming from it; the seeder counts them all as sent.
	fromSeed := func(st harness.LibtorrentStatus) bool {
		var n int64
		for _, p := range st.PeersSeen {
			if p.Addr == seed.Addr() && strings.Contains(p.Client, "libtorrent") {
				n += p.BytesReceived
			}
		}
		return n == 16<<20
	}
	if err := leech.WaitStatus(ctx, fromSeed); err != nil {
		t.Errorf("leecher never counted all 16 MiB from the seeder at %s: %v", seed.Addr(), err)
	}
	sentAll := func(st harness.LibtorrentStatus) bool {
		var sent int64
		for _, p := range st.PeersSeen {
			sent += p.BytesSent
		}
		return sent == 16<<20
	}
	if err := seed.WaitStatus(ctx, sentAll); err != nil {
		t.Errorf("seeder never counted all 16 MiB as sent: %v", err)
	}
	if err := leech.Stop(); err != nil {
		t.Error(err)
	}
}

// TestHarnessLibtorrentIPv6: a seeder listening on ::1 too serves a
// leecher that dials it there.
func TestHarnessLibtorrentIPv6(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	file := filepath.Join(src, "v6.bin")
	harness.RandomFile(t, file, 1<<20+5, 3)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{PieceLength: 64 << 10})
	ctx := harness.Context(t, 60*time.Second)
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, IPv6: true})
	// Told where the seeder is after it started.
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent, Listen: "[::1]:0"})
	if err := leech.Connect(seed.Addr6()); err != nil {
		t.Fatal(err)
	}
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, file, filepath.Join(leech.Save(), "v6.bin"))
	for _, p := range leech.Peers() {
		if p.Addr != seed.Addr6() {
			t.Errorf("leecher met %s, want only the seeder at %s", p.Addr, seed.Addr6())
		}
	}
}

// TestHarnessLibtorrentTrackerMultiFile proves that libtorrent peers find
// each other through a loopback opentracker (no --peer) and that MixedTree's
// awkward layout survives a transfer.
func TestHarnessLibtorrentTrackerMultiFile(t *testing.T) {
	t.Parallel()
	const pieceLength = 32 << 10
	src := t.TempDir()
	spec := harness.MixedTree(pieceLength)
	harness.RandomTree(t, filepath.Join(src, "tree"), spec, 7)

	// The tracker must know the info-hash before the torrent names it.
	probe := harness.MakeTorrent(t, filepath.Join(src, "tree"), harness.TorrentOptions{PieceLength: pieceLength})
	tracker := harness.StartOpentracker(t, harness.InfoHash(t, probe))
	torrent := harness.MakeTorrent(t, filepath.Join(src, "tree"), harness.TorrentOptions{
		PieceLength: pieceLength, Trackers: []string{tracker.AnnounceURL()},
	})
	if harness.InfoHash(t, torrent) != harness.InfoHash(t, probe) {
		t.Fatal("the announce URL changed the info-hash")
	}

	ctx := harness.Context(t, 60*time.Second)
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	// The tracker must know the seeder before the leecher asks: opentracker
	// asks for the next announce only half an hour later.
	if err := seed.WaitAnnounced(ctx); err != nil {
		t.Fatal(err)
	}
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), filepath.Join(leech.Save(), "tree"))
	for _, f := range spec {
		if f.Size == 0 {
			if st, err := os.Stat(filepath.Join(leech.Save(), "tree", f.Path)); err != nil || st.Size() != 0 {
				t.Errorf("zero-length %s: %v", f.Path, err)
			}
		}
	}
	if n := len(leech.Peers()); n == 0 {
		t.Errorf("leecher met no peers, yet finished")
	}
	for _, lt := range []*harness.Libtorrent{seed, leech} {
		if errs := lt.Errors(); len(errs) > 0 {
			t.Errorf("libtorrent reported errors: %q", errs)
		}
	}
}

// TestHarnessMixedTreeGeometry checks the promises MixedTree makes to the
// tests that use it.
func TestHarnessMixedTreeGeometry(t *testing.T) {
	t.Parallel()
	for _, l := range []int64{64, 1000, 16 << 10, 256 << 10} {
		spec := harness.MixedTree(l)
		total := harness.TreeSize(spec)
		if total%l == 0 {
			t.Errorf("piece length %d: total %d leaves no short last piece", l, total)
		}
		var off int64
		empty, nested := 0, 0
		spans := map[int64]int{} // piece -> files with bytes in it
		for _, f := range spec {
			if f.Size == 0 {
				empty++
			}
			if strings.Count(f.Path, "/") >= 2 {
				nested++
			}
			if f.Size > 0 {
				for p := off / l; p <= (off+f.Size-1)/l; p++ {
					spans[p]++
				}
				if (off+f.Size)%l == 0 {
					t.Errorf("piece length %d: %s ends on a piece boundary", l, f.Path)
				}
			}
			off += f.Size
		}
		maxFiles := 0
		for _, n := range spans {
			maxFiles = max(maxFiles, n)
		}
		if empty < 2 || nested == 0 || maxFiles < 3 {
			t.Errorf("piece length %d: %d empty files, %d nested, at most %d files in a piece; want >=2, >0, >=3",
				l, empty, nested, maxFiles)
		}
	}
}

// TestHarnessRandomFileDeterministic: the same seed gives the same bytes,
// another seed other bytes, and AssertSameFile notices.
func TestHarnessRandomFileDeterministic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
	harness.RandomFile(t, a, 3<<20+17, 42)
	harness.RandomFile(t, b, 3<<20+17, 42)
	harness.RandomFile(t, c, 3<<20+17, 43)
	harness.AssertSameFile(t, a, b)
	rec := &recordingTB{TB: t}
	harness.AssertSameFile(rec, a, c)
	if !strings.Contains(rec.msg, "differ at byte 0") {
		t.Errorf("comparing different files said %q", rec.msg)
	}
	st, err := os.Stat(a)
	if err != nil || st.Size() != 3<<20+17 {
		t.Fatalf("random file size: %v %v", st, err)
	}
}

// TestHarnessOpentracker: a whitelisted torrent gets peers back, another is
// refused, and the UDP port answers a BEP 15 connect.
func TestHarnessOpentracker(t *testing.T) {
	t.Parallel()
	var allowed, other [20]byte
	copy(allowed[:], "allowed-info-hash-01")
	copy(other[:], "not-allowed-hash-002")
	ot := harness.StartOpentracker(t, allowed)
	ctx := harness.Context(t, 10*time.Second)
	if err := harness.WaitListening(ctx, fmt.Sprintf("127.0.0.1:%d", ot.Port()), ot.Process()); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := harness.WaitListening(short, fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)), nil); err == nil {
		t.Error("WaitListening succeeded on a port nobody listens on")
	}

	if _, err := announce(ctx, ot.AnnounceURL(), allowed, 6881); err != nil {
		t.Fatal(err)
	}
	peers, err := announce(ctx, ot.AnnounceURL(), allowed, 6882)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(peers, "127.0.0.1:6881") {
		t.Errorf("second announce got peers %q, want the first peer 127.0.0.1:6881", peers)
	}
	if _, err := announce(ctx, ot.AnnounceURL(), other, 6883); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("announce of a torrent not whitelisted: %v, want a failure reason", err)
	}

	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", ot.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	req := []byte{0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 64)
	n, err := conn.Read(resp)
	if err != nil || n < 16 || resp[3] != 0 || string(resp[4:8]) != "\x01\x02\x03\x04" {
		t.Errorf("UDP connect: %d bytes %x, %v", n, resp[:n], err)
	}
}

// announce does one compact HTTP announce and returns the peers as
// "ip:port" joined by spaces, or the tracker's failure reason as an error.
func announce(ctx context.Context, base string, ih [20]byte, port int) (string, error) {
	q := url.Values{}
	q.Set("info_hash", string(ih[:]))
	q.Set("peer_id", fmt.Sprintf("-HT0001-%012d", port))
	q.Set("port", strconv.Itoa(port))
	q.Set("left", "100")
	q.Set("compact", "1")
	q.Set("event", "started")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var r struct {
		Failure string `bencode:"failure reason"`
		Peers   string `bencode:"peers"`
	}
	if err := bencode.DecodeBytes(body, &r); err != nil {
		return "", fmt.Errorf("announce answer %q: %w", body, err)
	}
	if r.Failure != "" {
		return "", errors.New(r.Failure)
	}
	var peers []string
	for p := []byte(r.Peers); len(p) >= 6; p = p[6:] {
		peers = append(peers, fmt.Sprintf("%d.%d.%d.%d:%d", p[0], p[1], p[2], p[3], int(p[4])<<8|int(p[5])))
	}
	return strings.Join(peers, " "), nil
}

// TestHarnessRedis: redis answers PING and keeps a value.
func TestHarnessRedis(t *testing.T) {
	t.Parallel()
	r := harness.StartRedis(t)
	ctx := harness.Context(t, 10*time.Second)
	if err := r.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "SET harness ok\r\nGET harness\r\n")
	br := bufio.NewReader(conn)
	var lines []string
	for range 3 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSpace(l))
	}
	if got := strings.Join(lines, " "); got != "+OK $2 ok" {
		t.Errorf("SET then GET answered %q", got)
	}
}

// TestHarnessRequireFails: a missing program fails the test with the
// install hint instead of skipping it.
func TestHarnessRequireFails(t *testing.T) {
	t.Parallel()
	rec := &recordingTB{TB: t}
	harness.Require(rec, "mktorrent", "no-such-program-torfs-harness")
	harness.Require(rec, "/dev/no-such-device-torfs-harness")
	if !strings.Contains(rec.msg, "/dev/no-such-device") {
		t.Errorf("Require of a missing file said %q", rec.msg)
	}
	if !rec.fatal || !strings.Contains(rec.msg, "bash scripts/deps.sh") || !strings.Contains(rec.msg, "no-such-program") {
		t.Errorf("Require of a missing program: fatal=%v %q", rec.fatal, rec.msg)
	}
	rec = &recordingTB{TB: t}
	harness.Require(rec, "mktorrent", "opentracker", "redis-server", "fusermount3", "/dev/fuse", "python3-libtorrent")
	if rec.fatal {
		t.Errorf("Require of installed programs failed: %s", rec.msg)
	}
}

// TestHarnessProcessStop: Stop ends a process that ignores SIGTERM, and
// takes its children along.
func TestHarnessProcessStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "stubborn.sh")
	body := "#!/bin/sh\ntrap '' TERM\nsleep 300 &\necho child $!\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p := harness.StartTorfs(t, script)
	ctx := harness.Context(t, 20*time.Second)
	line, err := p.WaitOutput(ctx, "child ")
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimPrefix(line, "child "))
	if err != nil {
		t.Fatalf("child pid %q: %v", line, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, exited := p.Exited(); !exited {
		t.Fatal("Stop returned while the process still runs")
	}
	// The child is gone (or a zombie of init's about to be reaped).
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("child %d outlived Stop: %s", child, stat)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestHarnessBuildTorfs builds the real binary once and runs it.
func TestHarnessBuildTorfs(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	if again := harness.BuildTorfs(t); again != bin {
		t.Errorf("second BuildTorfs gave %s, first %s", again, bin)
	}
	r := harness.RunTorfs(t, bin, "--help")
	if !strings.Contains(r.Stdout+r.Stderr, "torfs") {
		t.Errorf("torfs --help printed nothing about torfs:\n%v", r)
	}
	if r.MaxRSS <= 0 || r.MaxRSS > 1<<30 {
		t.Errorf("torfs --help peak RSS %d bytes: not a plausible figure", r.MaxRSS)
	}
	bad := harness.RunTorfsStatus(t, bin, "no-such-command")
	if bad.Code != 2 {
		t.Errorf("unknown command exit %d, want 2:\n%v", bad.Code, bad)
	}
}

// recordingTB records failures instead of failing, to test helpers that
// are supposed to fail.
type recordingTB struct {
	testing.TB
	fatal bool
	msg   string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = true
	r.msg += fmt.Sprintf(format, args...)
}

func (r *recordingTB) Errorf(format string, args ...any) { r.msg += fmt.Sprintf(format, args...) }

func (r *recordingTB) Error(args ...any) { r.msg += fmt.Sprint(args...) }

// BenchmarkLibtorrentReference measures the reference the swarm benchmarks
// compare torfs with: a libtorrent leecher downloading from one and from
// three libtorrent seeders on loopback. $TORFS_BENCH_SIZE sets the size in
// bytes (default 1 GiB). Run:
//
//	go test -run '^$' -bench LibtorrentReference -benchtime 1x ./integration/
func BenchmarkLibtorrentReference(b *testing.B) {
	size := int64(1 << 30)
	if s := os.Getenv("TORFS_BENCH_SIZE"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("TORFS_BENCH_SIZE=%q: want a byte count", s)
		}
		size = n
	}
	harness.Require(b, "mktorrent", "python3-libtorrent")
	ctx := harness.Context(b, 10*time.Minute)
	torrent, save, err := harness.PrepareBenchTorrent(ctx, b.TempDir(), size, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("seeders=%d", n), func(b *testing.B) {
			seeds, err := harness.LaunchSeeders(ctx, torrent, save, n)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				for _, s := range seeds {
					if err := s.Close(); err != nil {
						b.Error(err)
					}
				}
			})
			var addrs []string
			for _, s := range seeds {
				addrs = append(addrs, s.Addr())
			}
			var total float64
			for range b.N {
				mbps, err := harness.MeasureLibtorrentDownload(ctx, torrent, addrs, size)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("libtorrent leecher from %d libtorrent seeder(s): %.0f MB/s", n, mbps)
				total += mbps
			}
			b.ReportMetric(total/float64(b.N), "MB/s")
		})
	}
}

// TestHarnessMountHelpers: Mounted sees a mount (even with a space in its
// path), WaitMounted returns, and Unmount detaches it. tmpfs stands in for
// FUSE here.
func TestHarnessMountHelpers(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mount point")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, err := harness.Mounted(dir); ok || err != nil {
		t.Fatalf("fresh dir: mounted=%v, %v", ok, err)
	}
	harness.CleanupMount(t, dir)
	r := harness.Run(t, harness.Command{Path: "mount", Args: []string{"-t", "tmpfs", "none", dir}})
	if r.Code != 0 {
		t.Fatalf("mount tmpfs: %v", r)
	}
	if err := harness.WaitMounted(harness.Context(t, 10*time.Second), dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := harness.Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if ok, err := harness.Mounted(dir); ok || err != nil {
		t.Errorf("after Unmount: mounted=%v, %v", ok, err)
	}
}

// TestHarnessNoLeaks runs this test binary as a child whose test starts
// libtorrent, opentracker and redis and then fails, or is SIGKILLed: in
// both cases none of those processes may outlive it, and a failure must
// carry their output.
func TestHarnessNoLeaks(t *testing.T) {
	if mode := os.Getenv("TORFS_HARNESS_LEAK_CHILD"); mode != "" {
		leakChild(t, mode)
		return
	}
	t.Parallel()
	for _, mode := range []string{"fail", "kill"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := harness.Context(t, 60*time.Second)
			child := harness.Start(t, harness.Command{
				Path: os.Args[0],
				Args: []string{"-test.run", "^TestHarnessNoLeaks$", "-test.v"},
				// Whatever a killed child leaves on disk is ours to remove.
				Env:  []string{"TORFS_HARNESS_LEAK_CHILD=" + mode, "TMPDIR=" + t.TempDir()},
				Name: "leaking child (" + mode + ")",
			})
			line, err := child.WaitOutput(ctx, "PIDS ")
			if err != nil {
				t.Fatal(err)
			}
			var pids []int
			for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "PIDS ")) {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("child printed %q", line)
				}
				pids = append(pids, pid)
			}
			if len(pids) != 3 {
				t.Fatalf("child printed %q, want 3 pids", line)
			}
			if mode == "kill" {
				if err := child.Signal(os.Kill); err != nil {
					t.Fatal(err)
				}
			}
			code, err := child.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if code == 0 {
				t.Fatalf("the child's test passed; it should have failed:\n%s", child.Output())
			}
			if mode == "fail" {
				for _, want := range []string{"deliberate failure", "output of libtorrent seed", `"event": "listening"`} {
					if !strings.Contains(child.Stdout(), want) {
						t.Errorf("the failed child's output lacks %q:\n%s", want, child.Output())
					}
				}
			}
			for _, pid := range pids {
				waitGone(ctx, t, pid)
			}
		})
	}
}

// leakChild is the child side of TestHarnessNoLeaks.
func leakChild(t *testing.T, mode string) {
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "f"), 100<<10, 9)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "f"), harness.TorrentOptions{PieceLength: 32 << 10})
	lt := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	ot := harness.StartOpentracker(t)
	r := harness.StartRedis(t)
	fmt.Printf("PIDS %d %d %d\n", lt.Process().Pid(), ot.Process().Pid(), r.Process().Pid())
	if mode == "kill" {
		time.Sleep(time.Minute) // until the parent's SIGKILL
	}
	t.Fatal("deliberate failure")
}

// waitGone waits until pid no longer runs (gone, or a zombie waiting for
// a reaper).
func waitGone(ctx context.Context, t *testing.T, pid int) {
	t.Helper()
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("process %d outlived its test: %s", pid, stat)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}
