package integration

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
	"github.com/torfs/torfs/webui"
)

// TestWebPageInChromium opens the web page in a headless Chromium over a
// mount session that downloads from a rate-limited libtorrent seeder:
// the page shows the count of verified pieces growing as the download
// goes on, a peer, and a stream URL for each file; a screenshot of it
// is left in the test's temp dir (logged with -v).
func TestWebPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (scripts/deps.sh installs it)")
	}
	harness.Require(t, "mktorrent", "python3-libtorrent")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const pl = 64 << 10
	root := filepath.Join(t.TempDir(), "show")
	spec := []harness.FileSpec{{Path: "episode 1.mkv", Size: 6 << 20}, {Path: "notes.txt", Size: 5000}}
	harness.RandomTree(t, root, spec, 20)
	torrentPath := harness.MakeTorrent(t, root, harness.TorrentOptions{PieceLength: pl})
	mi, err := metainfo.Load(torrentPath)
	if err != nil {
		t.Fatal(err)
	}
	n := mi.Info.NumPieces()

	s, err := mount.New(mount.Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: t.TempDir(), DownloadAll: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if _, err := s.Add(ctx, "show", mi); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(webui.New(s, webui.Options{Interval: 200 * time.Millisecond}))
	defer srv.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, stopBrowser := chromedp.NewExecAllocator(ctx, opts...)
	defer stopBrowser()
	bctx, closeTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer closeTab()

	verified := func() int {
		t.Helper()
		text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".verified-pieces").textContent`))
		if err != nil {
			t.Fatalf("reading the verified piece count: %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil {
			t.Fatalf("the verified piece count reads %q", text)
		}
		return v
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(".verified-pieces")),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	total, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".total-pieces").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	urls, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("input.stream-url")].map(e => e.value)`))
	if err != nil {
		t.Fatal(err)
	}
	if total != strconv.Itoa(n) {
		t.Errorf("the page shows %s pieces, want %d", total, n)
	}
	ih := mi.InfoHash.String()
	want := []string{srv.URL + "/t/" + ih + "/episode%201.mkv", srv.URL + "/t/" + ih + "/notes.txt"}
	if strings.Join(urls, " ") != strings.Join(want, " ") {
		t.Errorf("stream URLs on the page: %q, want %q", urls, want)
	}
	before := verified()
	if before != 0 {
		t.Fatalf("%d pieces verified before any peer", before)
	}

	// The seeder comes only now, and slowly, so the page sees the
	// download run.
	harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Seed, Torrent: torrentPath, Save: filepath.Dir(root),
		Peers: []string{s.Addr().String()}, UploadLimit: 2 << 20,
	})
	grows := func(from int) {
		t.Helper()
		if _, err := chromedp.Run(bctx, chromedp.Poll[bool](
			fmt.Sprintf(`Number(document.querySelector(".verified-pieces").textContent) > %d`, from),
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
			t.Fatalf("the verified piece count stayed at %d or below: %v", from, err)
		}
	}
	grows(0)
	mid := verified()
	shot(t, bctx, "webui-downloading.png")
	peers, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll(".torrent tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	if peers != 1 {
		t.Errorf("the peers table has %d rows, want the seeder's", peers)
	}
	if mid < n {
		grows(mid)
	}
	grows(n - 1) // the whole torrent, at last
	// The map is drawn from the run-length encoded states, the counts
	// from the status's own: they agree.
	drawn, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("canvas.map").dataset.verified`))
	if err != nil || drawn != strconv.Itoa(n) {
		t.Errorf("the piece map shows %q pieces verified (%v), want %d", drawn, err, n)
	}
	shot(t, bctx, "webui-done.png")
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	shot(t, bctx, "webui-phone.png")
	t.Logf("verified pieces seen on the page: %d, then %d, then all %d", before, mid, n)
}

// shot saves a screenshot of the whole page under the test's temp dir.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}
