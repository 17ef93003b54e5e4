package integration

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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

// TestTrackersShareSwarmsThroughRedis: two torfs tracker processes on one
// Redis serve the same swarms, as they would behind one address: a peer
// that announced to the first is handed out by the second.
func TestTrackersShareSwarmsThroughRedis(t *testing.T) {
	t.Parallel()
	r := harness.StartRedis(t)
	url1, _ := startTorfsTracker(t, "--store", r.URL())
	url2, udp2 := startTorfsTracker(t, "--store", r.URL())
	ctx := harness.Context(t, 60*time.Second)
	var c tracker.Client
	ih := [20]byte{0xfe, 0xed}
	if _, err := c.Announce(ctx, url1, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'A'}, Port: 7201, Left: 0, Event: tracker.EventStarted}); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{url2, udp2} {
		resp, err := c.Announce(ctx, url, tracker.AnnounceRequest{InfoHash: ih, PeerID: [20]byte{'B'}, Port: 7202, Left: 5, Event: tracker.EventStarted})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Peers) != 1 || resp.Peers[0].String() != "127.0.0.1:7201" || resp.Complete != 1 {
			t.Fatalf("%s: %+v, want the peer that announced to the other tracker", url, resp)
		}
	}
	st, err := c.Scrape(ctx, url1, ih)
	if err != nil || st[ih].Complete != 1 || st[ih].Incomplete != 1 {
		t.Fatalf("scrape of the first tracker: %+v %v", st, err)
	}
}

// TestTrackerReloadsAllowListOnSIGHUP: a private tracker serves only the
// listed torrents, and learns new ones when told to reload.
func TestTrackerReloadsAllowListOnSIGHUP(t *testing.T) {
	t.Parallel()
	list := filepath.Join(t.TempDir(), "allowed.txt")
	a, b := [20]byte{0xaa}, [20]byte{0xbb}
	write := func(hs ...[20]byte) {
		var sb strings.Builder
		for _, h := range hs {
			sb.WriteString(hex.EncodeToString(h[:]) + "\n")
		}
		if err := os.WriteFile(list, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	bin := harness.BuildTorfs(t)
	p := harness.StartTorfs(t, bin, "tracker", "--listen", "127.0.0.1:0", "--allow", list)
	ctx := harness.Context(t, 60*time.Second)
	line, err := p.WaitOutput(ctx, "tracker ready")
	if err != nil {
		t.Fatal(err)
	}
	url := regexp.MustCompile(`announce=(\S+)`).FindStringSubmatch(line)[1]
	var c tracker.Client
	req := func(h [20]byte) error {
		_, err := c.Announce(ctx, url, tracker.AnnounceRequest{InfoHash: h, PeerID: [20]byte{1}, Port: 7300})
		return err
	}
	if err := req(a); err != nil {
		t.Fatalf("listed torrent: %v", err)
	}
	if err := req(b); !errors.Is(err, tracker.ErrFailure) {
		t.Fatalf("unlisted torrent: %v, want a refusal", err)
	}
	write(a, b)
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitOutput(ctx, "allow list reloaded"); err != nil {
		t.Fatal(err)
	}
	if err := req(b); err != nil {
		t.Fatalf("torrent listed after SIGHUP: %v", err)
	}
}
