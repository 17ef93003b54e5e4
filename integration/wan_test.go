package integration

import (
	"net/netip"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/netemu"
	"github.com/torfs/torfs/internal/netemu/netemutest"
)

// The tests in this file run torfs and libtorrent on the two sides of an
// emulated WAN (internal/netemu: 25 ms each way, 0.5% loss, 100 Mbit/s, a
// 1000-packet queue): namespace A at 10.77.0.1, namespace B at 10.77.0.2.

// TestGetOverEmulatedWAN: torfs get in B downloads a file from a
// libtorrent seeder in A across the lossy, delayed link, byte for byte.
func TestGetOverEmulatedWAN(t *testing.T) {
	t.Parallel()
	w := netemutest.New(t, netemu.WANDefaults())
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "film.mkv"), 16<<20+333, 3)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "film.mkv"), harness.TorrentOptions{})
	ctx := harness.Context(t, 2*time.Minute)

	seed := harness.StartLibtorrentIn(t, w.A, harness.LibtorrentOptions{
		Mode: harness.Seed, Torrent: torrent, Save: src,
		Listen: netip.AddrPortFrom(netemu.AddrA, 0).String(),
	})
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}

	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	r := harness.Run(t, harness.InNetns(w.B.Name, harness.Command{Path: bin, Args: []string{
		"get", "--no-dht", "--no-port-map", "-o", out, "--listen", netip.AddrPortFrom(netemu.AddrB, 0).String(),
		"--peer", netip.AddrPortFrom(netemu.AddrA, uint16(seed.Port())).String(), torrent,
	}}))
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	harness.AssertSameFile(t, filepath.Join(src, "film.mkv"), filepath.Join(out, "film.mkv"))
	ab, _ := w.Link.Stats()
	if ab.Bytes < 16<<20 {
		t.Errorf("the link carried %d bytes from A to B, less than the file: did the data go around it?", ab.Bytes)
	}
}

// TestLibtorrentFromTorfsSeedOverEmulatedWAN: a libtorrent leecher in B
// downloads everything from torfs seed in A across the link.
func TestLibtorrentFromTorfsSeedOverEmulatedWAN(t *testing.T) {
	t.Parallel()
	w := netemutest.New(t, netemu.WANDefaults())
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "disk.img"), 16<<20+5, 4)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "disk.img"), harness.TorrentOptions{})
	ctx := harness.Context(t, 2*time.Minute)

	bin := harness.BuildTorfs(t)
	p := harness.Start(t, harness.InNetns(w.A.Name, harness.Command{Path: bin, Args: []string{
		"seed", "--no-dht", "--no-port-map", "--data", filepath.Join(src, "disk.img"),
		"--listen", netip.AddrPortFrom(netemu.AddrA, 0).String(), torrent,
	}}))
	line, err := p.WaitOutput(ctx, "press Ctrl-C")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(` on (\S+); press`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("torfs seed printed %q", line)
	}

	leech := harness.StartLibtorrentIn(t, w.B, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{m[1]}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, filepath.Join(src, "disk.img"), filepath.Join(leech.Save(), "disk.img"))
	ab, _ := w.Link.Stats()
	if ab.Bytes < 16<<20 {
		t.Errorf("the link carried %d bytes from A to B, less than the file: did the data go around it?", ab.Bytes)
	}
}
