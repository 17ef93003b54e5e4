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

// inNamespace runs bin with args inside ns, through ip netns exec.
func inNamespace(ns *netemu.Namespace, name, bin string, args ...string) harness.Command {
	return harness.Command{Path: "ip", Args: append([]string{"netns", "exec", ns.Name, bin}, args...), Name: name}
}

// TestGetOverEmulatedWAN: torfs get in B downloads a file from a
// libtorrent seeder in A across the lossy, delayed link, byte for byte.
func TestGetOverEmulatedWAN(t *testing.T) {
	t.Parallel()
	w := netemutest.New(t, netemu.WANDefaults())
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "film.mkv"), 16<<20+333, 3)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "film.mkv"), harness.TorrentOptions{})
	ctx := harness.Context(t, 2*time.Minute)

	var seed *harness.Libtorrent
	err := w.A.Do(func() error {
		var err error
		seed, err = harness.LaunchLibtorrent(ctx, harness.LibtorrentOptions{
			Mode: harness.Seed, Torrent: torrent, Save: src,
			Listen: netip.AddrPortFrom(netemu.AddrA, 0).String(),
		})
		return err
	})
	if err != nil {
		t.Fatalf("libtorrent seeder in namespace A: %v", err)
	}
	t.Cleanup(func() { seed.Close() })
	if err := seed.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}

	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	r := harness.Run(t, inNamespace(w.B, "torfs get (namespace B)", bin, "get", "--no-dht", "-o", out,
		"--listen", netip.AddrPortFrom(netemu.AddrB, 0).String(),
		"--peer", netip.AddrPortFrom(netemu.AddrA, uint16(seed.Port())).String(), torrent))
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
	p := harness.Start(t, inNamespace(w.A, "torfs seed (namespace A)", bin, "seed", "--no-dht",
		"--data", filepath.Join(src, "disk.img"), "--listen", netip.AddrPortFrom(netemu.AddrA, 0).String(), torrent))
	line, err := p.WaitOutput(ctx, "press Ctrl-C")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(` on (\S+); press`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("torfs seed printed %q", line)
	}

	save := t.TempDir()
	var leech *harness.Libtorrent
	err = w.B.Do(func() error {
		var err error
		leech, err = harness.LaunchLibtorrent(ctx, harness.LibtorrentOptions{
			Mode: harness.Leech, Torrent: torrent, Save: save, Peers: []string{m[1]}, ExitOnComplete: true,
		})
		return err
	})
	if err != nil {
		t.Fatalf("libtorrent leecher in namespace B: %v", err)
	}
	t.Cleanup(func() { leech.Close() })
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, filepath.Join(src, "disk.img"), filepath.Join(leech.Save(), "disk.img"))
	ab, _ := w.Link.Stats()
	if ab.Bytes < 16<<20 {
		t.Errorf("the link carried %d bytes from A to B, less than the file: did the data go around it?", ab.Bytes)
	}
}
