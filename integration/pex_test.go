package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// TestPEXIntroducesLeechers: seeder S and leechers A and B, three torfs
// processes. A and B are told only of S; S tells each of the other through
// PEX (BEP 11), and they connect to each other: one of them logs dialling
// the other's listening address as a peer it learned through PEX. S
// uploads slowly, so both are still downloading when S introduces them.
func TestPEXIntroducesLeechers(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "pex.img"), 6<<20+11, 71)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "pex.img"), harness.TorrentOptions{PieceLength: 64 << 10})
	bin := harness.BuildTorfs(t)
	s := startSeed(t, bin, src, torrent, "--up-rate", "1MiB")

	type leecher struct {
		addr string
		out  string
		p    *harness.Process
	}
	var ls [2]leecher
	for k := range ls {
		ls[k].addr = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		ls[k].out = t.TempDir()
		ls[k].p = harness.StartTorfs(t, bin, "get", "-v", "-o", ls[k].out, "--listen", ls[k].addr, "--peer", s, torrent)
	}
	ctx := harness.Context(t, 90*time.Second)
	// Each learns the other's address from S.
	for k, l := range ls {
		re := regexp.MustCompile(`msg="learned peers through PEX".*` + regexp.QuoteMeta(ls[1-k].addr))
		if err := waitMatch(ctx, l.p, re); err != nil {
			t.Fatalf("leecher %d: %v", k, err)
		}
	}
	for k, l := range ls {
		code, err := l.p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if code != 0 {
			t.Fatalf("leecher %d exited %d:\n%s", k, code, l.p.Output())
		}
		harness.AssertSameFile(t, filepath.Join(src, "pex.img"), filepath.Join(l.out, "pex.img"))
	}
	// One of them dialled the other at the address PEX gave it (the
	// other side sees an incoming connection from an ephemeral port).
	dialled := false
	for k, l := range ls {
		re := regexp.MustCompile(`msg="peer connected".* peer=` + regexp.QuoteMeta(ls[1-k].addr) + ` .*source=pex`)
		dialled = dialled || re.MatchString(l.p.Stderr())
	}
	if !dialled {
		t.Fatalf("neither leecher connected to the other through PEX:\nA:\n%s\nB:\n%s", ls[0].p.Stderr(), ls[1].p.Stderr())
	}
}

// waitMatch waits until p's stderr matches re.
func waitMatch(ctx context.Context, p *harness.Process, re *regexp.Regexp) error {
	for !re.MatchString(p.Stderr()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never logged %q: %w\n%s", p.Name(), re, ctx.Err(), p.Output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// TestPEXLibtorrentLearnsFromTorfs: two libtorrent leechers told only of a
// torfs seeder meet each other: they can only have learned of each other
// from the seeder's ut_pex messages, so libtorrent reads what torfs sends.
func TestPEXLibtorrentLearnsFromTorfs(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "ltpex.img"), 4<<20+3, 72)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "ltpex.img"), harness.TorrentOptions{PieceLength: 64 << 10})
	bin := harness.BuildTorfs(t)
	s := startSeed(t, bin, src, torrent, "--up-rate", "512KiB")
	var ls [2]*harness.Libtorrent
	for k := range ls {
		ls[k] = harness.StartLibtorrent(t, harness.LibtorrentOptions{
			Mode: harness.Leech, Torrent: torrent, Peers: []string{s}, DownloadLimit: 256 << 10,
		})
	}
	// A peer id starting "-LT" (hex 2d4c54) is libtorrent's; torfs's
	// start "-TF".
	met := func(st harness.LibtorrentStatus) bool {
		for _, p := range st.PeersSeen {
			if strings.HasPrefix(p.PeerID, "2d4c54") {
				return true
			}
		}
		return false
	}
	ctx := harness.Context(t, time.Minute)
	if err := ls[0].WaitStatus(ctx, func(st harness.LibtorrentStatus) bool { return met(st) || met(ls[1].Status()) }); err != nil {
		t.Fatalf("the libtorrent leechers never met: %v\nfirst: %+v\nsecond: %+v", err, ls[0].Peers(), ls[1].Peers())
	}
}

// TestPEXTorfsLearnsFromLibtorrent: two torfs leechers told only of a
// libtorrent seeder learn of each other from its ut_pex messages and
// connect.
func TestPEXTorfsLearnsFromLibtorrent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "fromlt.img"), 6<<20+11, 73)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "fromlt.img"), harness.TorrentOptions{PieceLength: 64 << 10})
	bin := harness.BuildTorfs(t)
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, UploadLimit: 1 << 20})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	var addrs [2]string
	var ps [2]*harness.Process
	for k := range ps {
		addrs[k] = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
		ps[k] = harness.StartTorfs(t, bin, "get", "-v", "-o", t.TempDir(), "--listen", addrs[k], "--peer", seed.Addr(), torrent)
	}
	ctx := harness.Context(t, time.Minute)
	for k := range ps {
		re := regexp.MustCompile(`msg="learned peers through PEX".*` + regexp.QuoteMeta(addrs[1-k]))
		if err := waitMatch(ctx, ps[k], re); err != nil {
			t.Fatalf("leecher %d: %v", k, err)
		}
	}
	var res [2]*regexp.Regexp
	for k := range res {
		res[k] = regexp.MustCompile(`msg="peer connected".* peer=` + regexp.QuoteMeta(addrs[1-k]) + ` .*source=pex`)
	}
	for !res[0].MatchString(ps[0].Stderr()) && !res[1].MatchString(ps[1].Stderr()) {
		select {
		case <-ctx.Done():
			t.Fatalf("neither leecher connected to the other through PEX:\nA:\n%s\nB:\n%s", ps[0].Stderr(), ps[1].Stderr())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
