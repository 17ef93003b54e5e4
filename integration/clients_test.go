package integration

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// TestAria2GetsFromTorfsSeed: aria2 finds a torfs seeder through a
// tracker and downloads from it. aria2 sends its bitfield after have
// messages, which torfs once answered by dropping the connection.
func TestAria2GetsFromTorfsSeed(t *testing.T) {
	t.Parallel()
	harness.Require(t, "aria2c")
	ctx := harness.Context(t, 60*time.Second)
	src := t.TempDir()
	file := filepath.Join(src, "film.bin")
	harness.RandomFile(t, file, 16<<20, 21)
	// A short interval: whichever of the two announces first learns of
	// the other a second later.
	announce, _ := startTorfsTracker(t, "--interval", "1s")
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{PieceLength: 256 << 10, Trackers: []string{announce}})

	bin := harness.BuildTorfs(t)
	seed := harness.StartTorfs(t, bin, "seed", "-v", "--listen", "127.0.0.1:0", "--data", file, torrent)
	if _, err := seed.WaitOutput(ctx, "seeding "); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	r := harness.Aria2Get(ctx, t, harness.Aria2Options{Torrent: torrent, Dir: out})
	if r.Code != 0 {
		t.Fatalf("aria2 failed: %v", r)
	}
	harness.AssertSameFile(t, file, filepath.Join(out, "film.bin"))
}

// TestTorfsGetsFromTransmission: torfs downloads from a Transmission
// seeder alone, without waiting at the end. Transmission serves one
// request fewer than the reqq it advertises and rejects the others only
// with its next batch of messages, 8 to 10 s later: a torfs that asked for
// reqq blocks at once waited that long for the last one.
func TestTorfsGetsFromTransmission(t *testing.T) {
	t.Parallel()
	ctx := harness.Context(t, 60*time.Second)
	src := t.TempDir()
	file := filepath.Join(src, "film.bin")
	const size = 32 << 20
	harness.RandomFile(t, file, size, 22)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{PieceLength: 256 << 10})
	tr := harness.StartTransmission(t, harness.TransmissionOptions{Torrent: torrent, Save: src})
	if err := tr.WaitSeeding(ctx); err != nil {
		t.Fatal(err)
	}

	// Transmission ignores peers on 127.x that trackers name: torfs
	// connects to it.
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	get := harness.StartTorfs(t, bin, "get", "-v", "-o", out, "--peer", tr.Addr(), torrent)
	// Transmission's upload count times the last 1% of the download.
	var at99 time.Time
	start := time.Now()
	for at99.IsZero() {
		select {
		case <-get.Done():
			at99 = time.Now() // too quick to see
		case <-ctx.Done():
			t.Fatalf("download incomplete: %v", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if st, err := tr.Torrent(ctx); err == nil && st.UploadedEver >= size*99/100 {
			at99 = time.Now()
		}
	}
	code, err := get.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if code != 0 {
		t.Fatalf("torfs get exited %d\n%s", code, get.Output())
	}
	harness.AssertSameFile(t, file, filepath.Join(out, "film.bin"))

	line, err := get.WaitOutput(ctx, `msg="download complete"`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first 99%% in %v (Transmission unchokes on a 10 s timer), last 1%% in %v; torfs: %s",
		at99.Sub(start).Round(time.Millisecond), end.Sub(at99).Round(time.Millisecond), line)
	// Transmission answers requests in order, and all of them while
	// torfs stays within its limit: it neither skips nor rejects any.
	if n := counter(t, line, "skipped"); n != 0 {
		t.Errorf("Transmission skipped %d requests: torfs asked for more than it serves", n)
	}
	if n := counter(t, line, "rejected"); n != 0 {
		t.Errorf("Transmission rejected %d requests, which takes it seconds", n)
	}
	if strings.Contains(get.Stderr(), "peer is not answering requests") {
		t.Error("torfs waited for the snub timeout")
	}
}

// counter returns the value of name=N in a log line.
func counter(t *testing.T, line, name string) int {
	t.Helper()
	m := regexp.MustCompile(`\b` + name + `=(\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no %s= in %q", name, line)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
