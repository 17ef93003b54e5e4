package integration

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// TestGetFromLibtorrent: torfs get downloads a file from a libtorrent
// seeder alone, byte for byte.
func TestGetFromLibtorrent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "film.mkv"), 24<<20+777, 1)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "film.mkv"), harness.TorrentOptions{})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	harness.AssertSameFile(t, filepath.Join(src, "film.mkv"), filepath.Join(out, "film.mkv"))
}

// TestLibtorrentFromTorfsSeed: a libtorrent leecher downloads everything
// from torfs seed, which first checked the data given as the file itself.
func TestLibtorrentFromTorfsSeed(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "disk.img"), 20<<20+5, 2)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "disk.img"), harness.TorrentOptions{PieceLength: 64 << 10})
	bin := harness.BuildTorfs(t)
	addr := startSeed(t, bin, filepath.Join(src, "disk.img"), torrent)
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, filepath.Join(src, "disk.img"), filepath.Join(leech.Save(), "disk.img"))
}

// startSeed runs torfs seed on data and returns the address it serves on.
func startSeed(t *testing.T, bin, data, torrent string, extra ...string) string {
	t.Helper()
	_, addr := seedProcess(t, bin, data, torrent, extra...)
	return addr
}

// TestSwarmThroughTracker: 3 torfs seeds and 5 torfs leechers meet through
// torfs tracker. The seeds upload slowly, so the leechers only finish
// quickly by trading pieces; each leecher reports what it uploaded, and
// seeds never download, so uploads by leechers went to other leechers.
func TestSwarmThroughTracker(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	port := harness.FreePort(t)
	trackerAddr := "127.0.0.1:" + strconv.Itoa(port)
	harness.StartTorfs(t, bin, "tracker", "--listen", trackerAddr, "--interval", "10s")
	waitListening(t, trackerAddr)
	announce := "http://" + trackerAddr + "/announce"

	src := t.TempDir()
	const size = 4 << 20
	harness.RandomFile(t, filepath.Join(src, "data.bin"), size, 3)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "data.bin"), harness.TorrentOptions{
		PieceLength: 32 << 10, Trackers: []string{announce},
	})
	for range 3 {
		startSeed(t, bin, src, torrent, "--up-rate", "512KiB")
	}
	var wg sync.WaitGroup
	var uploaded atomic.Int64
	outs := make([]string, 5)
	results := make([]*harness.Result, 5)
	for i := range outs {
		outs[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = harness.RunTorfsStatus(t, bin, "get", "-o", outs[i], "--listen", "127.0.0.1:0", torrent)
		}()
	}
	wg.Wait()
	re := regexp.MustCompile(`uploaded (\d+) bytes to peers`)
	for i, r := range results {
		if r.Code != 0 {
			t.Fatalf("leecher %d: %v", i, r)
		}
		harness.AssertSameFile(t, filepath.Join(src, "data.bin"), filepath.Join(outs[i], "data.bin"))
		m := re.FindStringSubmatch(r.Stdout)
		if m == nil {
			t.Fatalf("leecher %d printed no upload count: %v", i, r)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		t.Logf("leecher %d uploaded %d bytes to other leechers", i, n)
		uploaded.Add(n)
	}
	if uploaded.Load() == 0 {
		t.Fatal("no leecher uploaded anything: leechers did not exchange pieces")
	}
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	ctx := harness.Context(t, 30*time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nothing listens on %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestLyingPeerIsBanned: a peer that answers every request with garbage
// is banned, and the download completes correctly from an honest
// libtorrent seeder.
func TestLyingPeerIsBanned(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "set.tar"), 4<<20, 4)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "set.tar"), harness.TorrentOptions{PieceLength: 64 << 10})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	liar := startLiar(t, mi)
	// The honest seeder is slower than the liar, so the liar's blocks
	// are stored, not wasted.
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, UploadLimit: 2 << 20})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", liar.addr, "--peer", seed.Addr(), torrent)
	harness.AssertSameFile(t, filepath.Join(src, "set.tar"), filepath.Join(out, "set.tar"))
	if liar.blocks.Load() == 0 {
		t.Fatal("the liar was never asked for a block; the test proves nothing")
	}
	if !regexp.MustCompile(`banning a peer`).MatchString(r.Stderr) {
		t.Fatalf("torfs did not report a ban:\n%s", r.Stderr)
	}
	if n := liar.conns.Load(); n != 1 {
		t.Fatalf("the liar was connected %d times; a banned peer must not be dialled again", n)
	}
	t.Logf("liar sent %d bad blocks before the ban", liar.blocks.Load())
}

// liar is a peer that claims every piece and sends random blocks.
type liar struct {
	addr   string
	conns  atomic.Int64 // connections that sent a plaintext handshake
	blocks atomic.Int64
}

func startLiar(t *testing.T, mi *metainfo.MetaInfo) *liar {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &liar{addr: ln.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-ctx.Done()
				c.Close()
			}()
			go func() {
				defer wg.Done()
				defer c.Close()
				l.serve(c, mi)
			}()
		}
	}()
	return l
}

func (l *liar) serve(c net.Conn, mi *metainfo.MetaInfo) {
	hs, err := wire.ReadHandshake(c)
	if err != nil || hs.InfoHash != mi.InfoHash {
		return // an encrypted handshake: the liar speaks plaintext only
	}
	l.conns.Add(1)
	var mine wire.Handshake
	mine.InfoHash = mi.InfoHash
	copy(mine.PeerID[:], "-LI0001-liarliarliar")
	mine.Reserved.SetFast(true)
	if wire.WriteHandshake(c, mine) != nil {
		return
	}
	out := wire.AppendSimple(nil, wire.HaveAll)
	out = wire.AppendSimple(out, wire.Unchoke)
	if _, err := c.Write(out); err != nil {
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	block := make([]byte, wire.MaxBlockSize)
	dec := wire.NewDecoder(c, 64<<10)
	var m wire.Message
	for dec.Decode(&m) == nil {
		if m.ID != wire.Request || m.Length > wire.MaxBlockSize {
			continue
		}
		for i := range block[:m.Length] {
			block[i] = byte(rng.Uint32())
		}
		if _, err := c.Write(wire.AppendPiece(nil, m.Index, m.Begin, block[:m.Length])); err != nil {
			return
		}
		l.blocks.Add(1)
	}
}

// TestMultiFile: a multi-file torrent with pieces spanning three files, a
// short last piece and zero-length files goes from libtorrent to torfs get,
// then from torfs seed (given the torrent's root directory) to libtorrent.
func TestMultiFile(t *testing.T) {
	t.Parallel()
	const pieceLen = 32 << 10
	spec := harness.MixedTree(pieceLen)
	src := t.TempDir()
	root := filepath.Join(src, "tree")
	harness.RandomTree(t, root, spec, 5)
	torrent := harness.MakeTorrent(t, root, harness.TorrentOptions{PieceLength: pieceLen})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	harness.AssertSameTree(t, spec, root, filepath.Join(out, "tree"))
	for _, f := range spec {
		if f.Size == 0 {
			if fi, err := os.Stat(filepath.Join(out, "tree", filepath.FromSlash(f.Path))); err != nil || fi.Size() != 0 {
				t.Errorf("zero-length file %s: %v", f.Path, err)
			}
		}
	}

	// The downloaded tree, given as the torrent's root directory, seeds.
	addr := startSeed(t, bin, filepath.Join(out, "tree"), torrent)
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameTree(t, spec, root, filepath.Join(leech.Save(), "tree"))
}

// TestGetResumes: an interrupted torfs get exits 1 saying how far it got;
// run again, it keeps what it had and fetches only the rest.
func TestGetResumes(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	const size = 8 << 20
	harness.RandomFile(t, filepath.Join(src, "big.iso"), size, 6)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "big.iso"), harness.TorrentOptions{PieceLength: 64 << 10})
	bin := harness.BuildTorfs(t)
	addr := startSeed(t, bin, src, torrent)
	out := t.TempDir()

	// A slow first run, interrupted once it has a part.
	first := harness.StartTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--down-rate", "2MiB", "--peer", addr, torrent)
	ctx := harness.Context(t, time.Minute)
	for {
		if fi, err := os.Stat(filepath.Join(out, "."+harness.InfoHash(t, torrent).String()+".torfs")); err == nil && fi.Size() > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("torfs get wrote no state file")
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Interrupt it once a part of the data is on disk (written pieces
	// are verified moments later).
	for piecesWritten(t, filepath.Join(out, "big.iso"), 64<<10) < 16 {
		select {
		case <-ctx.Done():
			t.Fatal("torfs get wrote nothing")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := first.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, err := first.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code != 1 || !regexp.MustCompile(`interrupted at \d+\.\d%; run the same command again to resume`).MatchString(first.Stderr()) {
		t.Fatalf("interrupted get: exit %d\n%s", code, first.Stderr())
	}

	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", addr, torrent)
	harness.AssertSameFile(t, filepath.Join(src, "big.iso"), filepath.Join(out, "big.iso"))
	m := regexp.MustCompile(`received (\d+) bytes`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("second run: %v", r)
	}
	got, _ := strconv.ParseInt(m[1], 10, 64)
	if got >= size {
		t.Fatalf("the second run received %d bytes of %d: nothing was resumed", got, size)
	}
	t.Logf("the second run received %d of %d bytes", got, size)
}

// piecesWritten counts the pieces of a preallocated file that are no
// longer all zeros.
func piecesWritten(t *testing.T, path string, pieceLen int) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for off := 0; off < len(data); off += pieceLen {
		for _, b := range data[off:min(off+pieceLen, len(data))] {
			if b != 0 {
				n++
				break
			}
		}
	}
	return n
}

// TestSeedReportsBadData: torfs seed names the data that does not match
// the torrent and announces only the good pieces.
func TestSeedReportsBadData(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	path := filepath.Join(src, "scan.raw")
	harness.RandomFile(t, path, 4<<20, 7)
	torrent := harness.MakeTorrent(t, path, harness.TorrentOptions{PieceLength: 64 << 10})
	// Damage piece 10 (the torrent was made from the good data).
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("not the original bytes"), 10*64<<10+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bin := harness.BuildTorfs(t)
	p := harness.StartTorfs(t, bin, "seed", "--data", path, "--listen", "127.0.0.1:0", torrent)
	if _, err := p.WaitOutput(harness.Context(t, time.Minute), "press Ctrl-C"); err != nil {
		t.Fatal(err)
	}
	// stderr is read apart from stdout: wait for the report to arrive.
	report := regexp.MustCompile(`1 of 64 pieces are missing or wrong.*\n\s+scan\.raw`)
	ctx := harness.Context(t, 10*time.Second)
	for !report.MatchString(p.Stderr()) {
		select {
		case <-ctx.Done():
			t.Fatalf("torfs seed did not report the damaged piece:\n%s", p.Stderr())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if !regexp.MustCompile(`\(63 of 64 pieces\)`).MatchString(p.Stdout()) {
		t.Fatalf("torfs seed output: %s", p.Stdout())
	}
}
