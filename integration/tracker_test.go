package integration

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/tracker"
)

// startTorfsTracker runs `torfs tracker` on loopback HTTP and UDP ports
// and returns its announce URLs, read from its start line.
func startTorfsTracker(t *testing.T, args ...string) (httpURL, udpURL string) {
	t.Helper()
	bin := harness.BuildTorfs(t)
	p := harness.StartTorfs(t, bin, append([]string{"tracker", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0"}, args...)...)
	line, err := p.WaitOutput(harness.Context(t, 30*time.Second), "tracker ready")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`announce=(\S+) udp=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start line without announce URLs: %q", line)
	}
	return m[1], m[2]
}

// TestLibtorrentPeersMeetThroughTorfsTracker: a libtorrent seeder and a
// libtorrent leecher know only the torfs tracker (over HTTP, then UDP);
// the leecher learns the seeder's address from it and completes.
func TestLibtorrentPeersMeetThroughTorfsTracker(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	src := t.TempDir()
	file := filepath.Join(src, "data.bin")
	harness.RandomFile(t, file, 4<<20, 3)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{PieceLength: 64 << 10})
	// A short interval makes a peer that announced before the other
	// learn about it within a second or two.
	httpURL, udpURL := startTorfsTracker(t, "--interval", "1s")

	for _, url := range []string{httpURL, udpURL} {
		t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
			ctx := harness.Context(t, 90*time.Second)
			seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{
				Mode: harness.Seed, Torrent: torrent, Save: src,
				Trackers: []string{url}, ReplaceTrackers: true,
			})
			if err := seed.WaitFinished(ctx); err != nil {
				t.Fatalf("seeder's data check: %v", err)
			}
			leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
				Mode: harness.Leech, Torrent: torrent,
				Trackers: []string{url}, ReplaceTrackers: true,
			})
			if err := leech.WaitFinished(ctx); err != nil {
				t.Fatalf("leecher did not complete through the tracker: %v", err)
			}
			harness.AssertSameFile(t, file, filepath.Join(leech.Save(), "data.bin"))
			found := false
			for _, p := range leech.Peers() {
				found = found || p.Addr == seed.Addr()
			}
			if !found {
				t.Errorf("leecher's peers %+v do not include the seeder %s", leech.Peers(), seed.Addr())
			}
		})
	}

	// The tracker saw both and says so on /stats.
	resp, err := http.Get(strings.TrimSuffix(httpURL, "/announce") + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`announce\s+http\s+[1-9]`).Match(body) || !regexp.MustCompile(`announce\s+udp\s+[1-9]`).Match(body) {
		t.Errorf("/stats shows no HTTP and UDP announces:\n%s", body)
	}
}

// TestTorfsClientAnnouncesToOpentracker: the torfs tracker client talks
// to a real opentracker over HTTP and UDP; a second peer gets the first.
func TestTorfsClientAnnouncesToOpentracker(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	file := filepath.Join(src, "data.bin")
	harness.RandomFile(t, file, 1<<20, 4)
	torrent := harness.MakeTorrent(t, file, harness.TorrentOptions{})
	ih := harness.InfoHash(t, torrent)
	ot := harness.StartOpentracker(t, ih)
	var c tracker.Client
	for i, url := range []string{ot.AnnounceURL(), ot.UDPAnnounceURL()} {
		ctx, cancel := context.WithTimeout(harness.Context(t, 60*time.Second), 30*time.Second)
		first := tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'A', byte(i)}, Port: uint16(7100 + 10*i), Left: 0, Event: tracker.EventStarted}
		second := tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'B', byte(i)}, Port: uint16(7101 + 10*i), Left: 100, Event: tracker.EventStarted}
		if _, err := c.Announce(ctx, url, first); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		r, err := c.Announce(ctx, url, second)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		want := "127.0.0.1:" + strconv.Itoa(int(first.Port))
		got := false
		for _, p := range r.Peers {
			got = got || p.String() == want
		}
		if !got || r.Interval <= 0 || r.Complete < 1 {
			t.Fatalf("%s: answer %+v, want peer %s, an interval and a seeder", url, r, want)
		}
		if url == ot.AnnounceURL() {
			st, err := c.Scrape(ctx, url, ih)
			if err != nil || st[ih].Complete < 1 || st[ih].Incomplete < 1 {
				t.Fatalf("%s scrape: %+v %v", url, st, err)
			}
		}
		cancel()
		// An unlisted torrent is refused (over UDP opentracker just stays
		// silent, hence the short deadline).
		short, cancelShort := context.WithTimeout(harness.Context(t, 60*time.Second), 3*time.Second)
		if _, err := c.Announce(short, url, tracker.AnnounceRequest{InfoHash: [20]byte{1}, Port: 1}); err == nil {
			t.Fatalf("%s: opentracker accepted an unlisted torrent", url)
		}
		cancelShort()
	}
}
