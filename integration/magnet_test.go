package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestGetMagnetFromLibtorrent: torfs get of a magnet link whose only
// source is a libtorrent seeder named by x.pe fetches the metadata from
// it (BEP 9), then the data, byte for byte; a second run uses the saved
// .torrent instead of resolving again.
func TestGetMagnetFromLibtorrent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	// 28 MiB in 32 KiB pieces: 897 piece hashes, so the info dictionary
	// spans two 16 KiB metadata pieces.
	harness.RandomFile(t, filepath.Join(src, "album.flac"), 28<<20+99, 11)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "album.flac"), harness.TorrentOptions{PieceLength: 32 << 10})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	if len(mi.InfoBytes) <= 16<<10 {
		t.Fatalf("info dictionary of %d bytes: want more than one metadata piece", len(mi.InfoBytes))
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	magnet := "magnet:?xt=urn:btih:" + mi.InfoHash.String() + "&dn=album&x.pe=" + seed.Addr()
	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", magnet)
	harness.AssertSameFile(t, filepath.Join(src, "album.flac"), filepath.Join(out, "album.flac"))
	if m := regexp.MustCompile(`received in (\S+);`).FindStringSubmatch(r.Stderr); m != nil {
		t.Logf("metadata (%d bytes) from libtorrent on loopback in %s", len(mi.InfoBytes), m[1])
	} else {
		t.Errorf("no resolve summary on stderr:\n%s", r.Stderr)
	}
	saved, err := metainfo.Load(filepath.Join(out, "."+mi.InfoHash.String()+".torrent"))
	if err != nil || saved.InfoHash != mi.InfoHash {
		t.Fatalf("saved .torrent: %v", err)
	}
	again := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", magnet)
	if !strings.Contains(again.Stderr, "using the metadata saved") || strings.Contains(again.Stderr, "fetching metadata") {
		t.Fatalf("second run resolved again:\n%s", again.Stderr)
	}
}

// TestInfoMagnetFromTorfs: torfs info resolves a magnet link against a
// torfs seeder, prints the torrent's name and info-hash, and --save writes
// a .torrent with the same info-hash; with no reachable peer it gives up
// at --timeout with exit 1.
func TestInfoMagnetFromTorfs(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "notes.txt"), 300<<10, 12)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "notes.txt"), harness.TorrentOptions{})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	addr := startSeed(t, bin, filepath.Join(src, "notes.txt"), torrent)
	magnet := "magnet:?xt=urn:btih:" + mi.InfoHash.String() + "&x.pe=" + addr
	save := filepath.Join(t.TempDir(), "notes.torrent")
	r := harness.RunTorfs(t, bin, "info", "--json", "--timeout", "30s", "--save", save, magnet)
	var got struct {
		InfoHash string `json:"info_hash"`
		Name     string `json:"name"`
		Length   int64  `json:"length"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("torfs info --json: %v\n%s", err, r.Stdout)
	}
	if got.InfoHash != mi.InfoHash.String() || got.Name != "notes.txt" || got.Length != 300<<10 {
		t.Fatalf("torfs info printed %+v, want notes.txt %s", got, mi.InfoHash)
	}
	b, err := os.ReadFile(save)
	if err != nil {
		t.Fatal(err)
	}
	if smi, err := metainfo.Parse(b); err != nil || smi.InfoHash != mi.InfoHash {
		t.Fatalf("--save wrote a torrent with info-hash %v (%v)", smi, err)
	}
	text := harness.RunTorfs(t, bin, "info", magnet)
	if !strings.Contains(text.Stdout, "notes.txt") || !strings.Contains(text.Stdout, mi.InfoHash.String()) {
		t.Fatalf("torfs info printed:\n%s", text.Stdout)
	}

	dead := "magnet:?xt=urn:btih:" + mi.InfoHash.String() + "&x.pe=127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	fail := harness.RunTorfsStatus(t, bin, "info", "--timeout", "1s", dead)
	if fail.Code != 1 || !strings.Contains(fail.Stderr, "could not connect") {
		t.Fatalf("info of an unreachable magnet: %v", fail)
	}
}
