package integration

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// ltCreate makes a torrent of src with libtorrent's create_torrent
// (flags: "v2" v2_only, "hybrid" the default) at a piece length, writes it
// to out, then loads other (torfs's torrent of the same data) with
// libtorrent and prints its two info-hashes.
const ltCreate = `
import sys, os, libtorrent as lt
src, kind, pl, out, other = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
fs = lt.file_storage()
lt.add_files(fs, src)
flags = lt.create_torrent.v2_only if kind == "v2" else 0
ct = lt.create_torrent(fs, pl, flags=flags)
lt.set_piece_hashes(ct, os.path.dirname(src))
open(out, "wb").write(lt.bencode(ct.generate()))
h = lt.torrent_info(other).info_hashes()
print("v1=%s v2=%s" % (h.v1 if h.has_v1() else "none", h.v2 if h.has_v2() else "none"))
`

// ltTorrent makes a torrent of dir with libtorrent (ltCreate; kind "v2"
// or "hybrid") at piece length pl, into a temporary file called name,
// and returns its path.
func ltTorrent(t *testing.T, dir, kind string, pl int64, name string) string {
	t.Helper()
	torrent := filepath.Join(t.TempDir(), name)
	res := harness.Run(t, harness.Command{Path: harness.Python, Args: []string{"-c", ltCreate, dir, kind, fmt.Sprint(pl), torrent, torrent}})
	if res.Code != 0 {
		t.Fatalf("libtorrent: %s", res)
	}
	return torrent
}

// TestCreateV2MatchesLibtorrent creates v2-only and hybrid torrents of the
// same data with torfs create and libtorrent 2.0's create_torrent, at
// three piece lengths, for a directory and a single file, and requires
// identical info dictionaries (so equal v1 and v2 info-hashes) and piece
// layers; and each tool reads the other's torrent.
func TestCreateV2MatchesLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	work := t.TempDir()

	// Orders differ here: the file tree compares path components one by
	// one, so "sub/x" precedes "sub.txt" (mktorrent's order is the
	// reverse). Files smaller than a block, than a piece, of exactly a
	// piece, empty ones (kept by libtorrent, without a pad), hidden and
	// executable ones (attribute "x").
	dir := filepath.Join(work, "tree")
	harness.RandomTree(t, dir, []harness.FileSpec{
		{Path: "sub.txt", Size: 70001},
		{Path: "sub/x", Size: 300_000},
		{Path: "sub/.hidden", Size: 12345},
		{Path: ".dotfile", Size: 99},
		{Path: "empty", Size: 0},
		{Path: "a/b/c/deep.bin", Size: 600_017},
		{Path: "a/b/zero", Size: 0},
		{Path: "Zeta", Size: 65536},
		{Path: "run.sh", Size: 5000},
		{Path: "été/ß.txt", Size: 4097},
	}, 9)
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(work, "single.bin")
	harness.RandomFile(t, single, 1_300_001, 10)

	for _, src := range []string{dir, single} {
		for _, kind := range []string{"v2", "hybrid"} {
			for _, pl := range []int{16 << 10, 32 << 10, 256 << 10} {
				name := fmt.Sprintf("%s-%s-%d", filepath.Base(src), kind, pl)
				t.Run(name, func(t *testing.T) {
					lt := filepath.Join(work, name+".lt.torrent")
					tf := filepath.Join(work, name+".torfs.torrent")
					harness.RunTorfs(t, bin, "create", "--"+kind, "-l", fmt.Sprint(pl), "-o", tf, src)
					res := harness.Run(t, harness.Command{Path: harness.Python, Args: []string{"-c", ltCreate, src, kind, fmt.Sprint(pl), lt, tf}})
					if res.Code != 0 {
						t.Fatalf("libtorrent: %s", res)
					}
					want, err := metainfo.Load(lt)
					if err != nil {
						t.Fatalf("parse libtorrent's torrent: %v", err)
					}
					got, err := metainfo.Load(tf)
					if err != nil {
						t.Fatalf("parse torfs's torrent: %v", err)
					}
					if got.InfoHash != want.InfoHash || got.InfoHashV2 != want.InfoHashV2 {
						t.Errorf("info-hashes: torfs %s %s, libtorrent %s %s", got.InfoHash, got.InfoHashV2, want.InfoHash, want.InfoHashV2)
					}
					if !bytes.Equal(got.InfoBytes, want.InfoBytes) {
						t.Errorf("info dictionaries differ:\ntorfs      %.400q\nlibtorrent %.400q", got.InfoBytes, want.InfoBytes)
					}
					if !maps.EqualFunc(got.PieceLayers, want.PieceLayers, bytes.Equal) || len(want.PieceLayers) == 0 {
						t.Errorf("piece layers: torfs %d, libtorrent %d", len(got.PieceLayers), len(want.PieceLayers))
					}
					wantVersion := map[string]metainfo.Version{"v2": metainfo.V2, "hybrid": metainfo.Hybrid}[kind]
					if got.Version() != wantVersion {
						t.Errorf("version %v, want %v", got.Version(), wantVersion)
					}
					v1 := "none"
					if got.HasV1() {
						v1 = got.InfoHash.String()
					}
					if line := fmt.Sprintf("v1=%s v2=%s", v1, got.InfoHashV2); strings.TrimSpace(res.Stdout) != line {
						t.Errorf("libtorrent reads torfs's torrent as %q, want %q", strings.TrimSpace(res.Stdout), line)
					}
				})
			}
		}
	}
}

// TestGetHybridFromLibtorrent: torfs get downloads a hybrid torrent made
// and seeded by libtorrent (through its v1 half: the v1 info-hash, SHA-1
// pieces over files padded to piece boundaries), byte for byte, and a
// libtorrent leecher downloads it from torfs seed.
func TestGetHybridFromLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	dir := filepath.Join(src, "hy")
	files := []harness.FileSpec{
		{Path: "a.bin", Size: 3<<20 + 1234},
		{Path: "d/small", Size: 999},
		{Path: "d/sub/b", Size: 1<<20 + 17},
		{Path: "empty", Size: 0},
		{Path: "z", Size: 70000},
	}
	harness.RandomTree(t, dir, files, 11)
	torrent := ltTorrent(t, dir, "hybrid", 64<<10, "hy.torrent")
	mi, err := metainfo.Load(torrent)
	if err != nil || mi.Version() != metainfo.Hybrid {
		t.Fatalf("libtorrent's hybrid torrent: %v", err)
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "--no-dht", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(out, "hy", f.Path))
	}
	if _, err := os.Stat(filepath.Join(out, "hy", ".pad")); err == nil {
		t.Error("the pad files were written out")
	}

	// And back: a libtorrent leecher from torfs seed.
	addr := startSeed(t, bin, dir, torrent, "--no-dht")
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(leech.Save(), "hy", f.Path))
	}
}

// TestV2OnlyWithLibtorrent: a v2-only torrent made by libtorrent, its
// pieces verified by their BEP 52 hashes from its piece layers, and the
// swarm found under the truncated v2 info-hash: torfs get downloads it
// from a libtorrent seeder, and a libtorrent leecher downloads it from
// torfs seed, byte for byte.
func TestV2OnlyWithLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	dir := filepath.Join(src, "v2")
	files := []harness.FileSpec{
		{Path: "a.bin", Size: 3<<20 + 1234},
		{Path: "d/small", Size: 999},
		{Path: "d/sub/b", Size: 1<<20 + 17},
		{Path: "empty", Size: 0},
		{Path: "z", Size: 70000},
	}
	harness.RandomTree(t, dir, files, 12)
	torrent := ltTorrent(t, dir, "v2", 64<<10, "v2.torrent")
	mi, err := metainfo.Load(torrent)
	if err != nil || mi.Version() != metainfo.V2 || !mi.HasAllHashesV2() {
		t.Fatalf("libtorrent's v2 torrent: %v", err)
	}

	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "--no-dht", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(out, "v2", f.Path))
	}

	addr := startSeed(t, bin, dir, torrent, "--no-dht")
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(leech.Save(), "v2", f.Path))
	}
}

// TestGetV2MagnetFromLibtorrent: a magnet link with only the v2
// info-hash (urn:btmh) is resolved from a libtorrent seeder under the
// truncated hash; a hybrid's metadata is complete, so torfs get downloads
// it; a v2-only torrent's lacks the piece layers, which get then asks
// libtorrent for (BEP 52 hash requests, proven up to each file's pieces
// root) before downloading it byte for byte.
func TestGetV2MagnetFromLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	for _, kind := range []string{"hybrid", "v2"} {
		t.Run(kind, func(t *testing.T) {
			src := t.TempDir()
			dir := filepath.Join(src, "m")
			files := []harness.FileSpec{{Path: "a.bin", Size: 2<<20 + 5}, {Path: "b", Size: 40000}}
			harness.RandomTree(t, dir, files, 13)
			torrent := ltTorrent(t, dir, kind, 64<<10, "m.torrent")
			mi, err := metainfo.Load(torrent)
			if err != nil {
				t.Fatal(err)
			}
			seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
			if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			link := "magnet:?xt=urn:btmh:1220" + mi.InfoHashV2.String() + "&dn=m&x.pe=" + seed.Addr()
			out := t.TempDir()
			res := harness.RunTorfsStatus(t, bin, "get", "--no-dht", "-o", out, "--listen", "127.0.0.1:0", link)
			if res.Code != 0 || !strings.Contains(res.Stderr, "metadata of m") {
				t.Fatalf("get: %s", res)
			}
			for _, f := range files {
				harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(out, "m", f.Path))
			}
		})
	}
}

// TestSeedV2ToLibtorrentMagnet: torfs seed of a v2-only torrent made by
// libtorrent, and a libtorrent leecher given only its btmh magnet link:
// libtorrent gets the metadata, then asks torfs for the piece layers
// (BEP 52 hash requests), which torfs answers, and completes byte for
// byte.
func TestSeedV2ToLibtorrentMagnet(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	dir := filepath.Join(src, "m")
	files := []harness.FileSpec{{Path: "a.bin", Size: 2<<20 + 5}, {Path: "b", Size: 40000}, {Path: "c", Size: 64 << 10}}
	harness.RandomTree(t, dir, files, 15)
	torrent := ltTorrent(t, dir, "v2", 64<<10, "m.torrent")
	mi, err := metainfo.Load(torrent)
	if err != nil || mi.Version() != metainfo.V2 || !mi.HasAllHashesV2() {
		t.Fatalf("libtorrent's v2 torrent: %v", err)
	}
	seed, addr := seedProcess(t, bin, dir, torrent, "--no-dht", "-v")
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Magnet: "magnet:?xt=urn:btmh:1220" + mi.InfoHashV2.String() + "&dn=m",
		Peers: []string{addr}, ExitOnComplete: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(leech.Save(), "m", f.Path))
	}
	// libtorrent can also prove a file it holds whole from its blocks
	// up to the pieces root: that it asked torfs, and torfs answered,
	// shows in torfs's log.
	if out := seed.Output(); !strings.Contains(out, "hash request answered") || strings.Contains(out, "hash request rejected") {
		t.Errorf("torfs seed did not answer libtorrent's hash requests, or refused some:\n%s", out)
	}
}

// TestMountV2FromLibtorrent: a v2-only torrent, and a hybrid, made and
// seeded by libtorrent, mounted from the .torrent and from a link with
// only the v2 info-hash: every file reads back byte for byte (the v2-only
// one's pieces checked by their BEP 52 hashes).
func TestMountV2FromLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent", "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	for _, kind := range []string{"v2", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			src := t.TempDir()
			dir := filepath.Join(src, "m")
			files := []harness.FileSpec{{Path: "a.bin", Size: 3<<20 + 5}, {Path: "d/b", Size: 40000}, {Path: "e", Size: 0}, {Path: "z", Size: 200_001}}
			harness.RandomTree(t, dir, files, 14)
			torrent := ltTorrent(t, dir, kind, 32<<10, "m.torrent")
			seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
			if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			mnt := t.TempDir()
			listen := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
			mountTorfs(t, bin, torrent, mnt, "--no-dht", "--peer", seed.Addr(), "--listen", listen, "--cache-dir", t.TempDir())
			for _, f := range files {
				harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(mnt, f.Path))
			}
			// A link with only the v2 info-hash: resolved (for the
			// v2-only torrent, its piece layers asked of the seeder by
			// hash requests too), then mounted; the .torrent saved under
			// the name the link gives.
			mi, err := metainfo.Load(torrent)
			if err != nil {
				t.Fatal(err)
			}
			link := "magnet:?xt=urn:btmh:1220" + mi.InfoHashV2.String() + "&dn=m&x.pe=" + seed.Addr()
			mnt2, cacheDir := t.TempDir(), t.TempDir()
			listen = fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
			p := mountTorfs(t, bin, link, mnt2, "--no-dht", "--listen", listen, "--cache-dir", cacheDir)
			waitReady(harness.Context(t, time.Minute), t, p, mnt2, "the v2 link was never resolved", "resolving")
			for _, f := range files {
				harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(mnt2, f.Path))
			}
			if _, err := os.Stat(filepath.Join(cacheDir, "torrents", mi.InfoHashV2.Truncated().String()+".torrent")); err != nil {
				t.Errorf("the resolved torrent was not saved: %v", err)
			}
		})
	}
}

// TestMountV2WithoutLayersFromLibtorrent: a v2-only .torrent made by
// libtorrent, stripped of its piece layers, mounts at once with the
// placeholder while torfs asks the libtorrent seeder for the hashes (BEP
// 52 hash requests), then every file reads back byte for byte.
func TestMountV2WithoutLayersFromLibtorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "python3-libtorrent", "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	dir := filepath.Join(src, "m")
	files := []harness.FileSpec{{Path: "a.bin", Size: 2<<20 + 5}, {Path: "d/b", Size: 40000}, {Path: "z", Size: 200_001}}
	harness.RandomTree(t, dir, files, 16)
	torrent := ltTorrent(t, dir, "v2", 32<<10, "m.torrent")
	mi, err := metainfo.Load(torrent)
	if err != nil || len(mi.PieceLayers) == 0 {
		t.Fatalf("libtorrent's v2 torrent: %v, %d piece layers", err, len(mi.PieceLayers))
	}
	bare := *mi
	bare.PieceLayers = nil
	b, err := bare.Encode()
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(t.TempDir(), "m.torrent")
	if err := os.WriteFile(partial, b, 0o644); err != nil {
		t.Fatal(err)
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	p := mountTorfs(t, bin, partial, mnt, "--no-dht", "--peer", seed.Addr(), "--listen", listen, "--cache-dir", t.TempDir())
	waitReady(harness.Context(t, time.Minute), t, p, mnt, "the piece hashes never arrived", "fetching the piece hashes")
	for _, f := range files {
		harness.AssertSameFile(t, filepath.Join(dir, f.Path), filepath.Join(mnt, f.Path))
	}
}
