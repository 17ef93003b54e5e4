package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// TestBencodeBombPeerDropped: raw TCP peers send torfs seed an extended
// handshake of 19 bytes claiming a 2 GB string ("d1:v2000000000:abce").
// The seeder drops each of them as malformed without its memory growing
// by the claim, and goes on to serve a libtorrent leecher everything.
func TestBencodeBombPeerDropped(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "bomb.img"), 4<<20+7, 81)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "bomb.img"), harness.TorrentOptions{PieceLength: 64 << 10})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	p := harness.StartTorfs(t, bin, "seed", "-v", "--data", filepath.Join(src, "bomb.img"), "--listen", "127.0.0.1:0", torrent)
	ctx := harness.Context(t, 90*time.Second)
	line, err := p.WaitOutput(ctx, "press Ctrl-C")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(` on (\S+); press`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("torfs seed printed %q", line)
	}
	addr := m[1]

	// Several bombs: a seeder that allocated what each claims would
	// reuse, and so zero and touch, gigabytes of freed heap.
	const bombs = 3
	for i := range bombs {
		if err := sendBomb(ctx, addr, mi.InfoHash, i); err != nil {
			t.Fatalf("bomb %d: %v\n%s", i, err, p.Output())
		}
	}
	dropped := regexp.MustCompile(`msg="peer dropped".*malformed`)
	for len(dropped.FindAllStringIndex(p.Stderr(), -1)) < bombs {
		select {
		case <-ctx.Done():
			t.Fatalf("the seeder did not log dropping %d malformed peers: %v\n%s", bombs, ctx.Err(), p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}

	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(ctx); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, filepath.Join(src, "bomb.img"), filepath.Join(leech.Save(), "bomb.img"))
	if code, exited := p.Exited(); exited {
		t.Fatalf("the seeder exited (%d) after the bombs:\n%s", code, p.Output())
	}
	// Seeding 4 MiB takes tens of MB; one bomb allocated would take 2 GB.
	const limit = 256 << 20
	peak, err := peakRSS(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if peak > limit {
		t.Fatalf("the seeder's peak RSS is %d MB; want under %d MB", peak>>20, limit>>20)
	}
	t.Logf("seeder peak RSS %d MB after %d bombs and a full upload", peak>>20, bombs)
}

// sendBomb connects to addr as peer number n with the extension protocol,
// sends an extended handshake that claims a 2 GB string, and waits for the
// connection to be closed by the other end. Each n has its own peer id:
// the seeder refuses a second connection from a peer id it may not have
// finished dropping.
func sendBomb(ctx context.Context, addr string, infoHash metainfo.Hash, n int) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var hs wire.Handshake
	hs.InfoHash = infoHash
	copy(hs.PeerID[:], fmt.Sprintf("-BB0001-bomb%08d", n))
	hs.Reserved.SetExtended(true)
	if err := wire.WriteHandshake(c, hs); err != nil {
		return err
	}
	theirs, err := wire.ReadHandshake(c)
	if err != nil {
		return fmt.Errorf("reading the seeder's handshake: %w", err)
	}
	if !theirs.Reserved.Extended() {
		return errors.New("the seeder does not speak the extension protocol; the bomb cannot be delivered")
	}
	if _, err := c.Write(wire.AppendExtended(nil, 0, []byte("d1:v2000000000:abce"))); err != nil {
		return err
	}
	// Whatever the seeder sent first (bitfield, its own extended
	// handshake) is read and ignored until it hangs up.
	_, err = io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("the seeder kept the connection open: %w", err)
	}
	return nil
}

// peakRSS is a running process's peak resident set size (VmHWM).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
