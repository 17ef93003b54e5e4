package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestGetFromEncryptedLibtorrent: a libtorrent seeder that speaks only
// MSE/PE with RC4 serves torfs get with its default flags (encryption
// preferred), byte for byte.
func TestGetFromEncryptedLibtorrent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "film.mkv"), 32<<20+333, 17)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "film.mkv"), harness.TorrentOptions{})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, ForceEncryption: true})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	harness.AssertSameFile(t, filepath.Join(src, "film.mkv"), filepath.Join(out, "film.mkv"))
}

// TestEncryptedLibtorrentFromTorfsSeed: torfs seed --encryption require
// serves a libtorrent leecher that speaks only MSE/PE with RC4.
func TestEncryptedLibtorrentFromTorfsSeed(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "disk.img"), 32<<20+5, 18)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "disk.img"), harness.TorrentOptions{})
	bin := harness.BuildTorfs(t)
	addr := startSeed(t, bin, filepath.Join(src, "disk.img"), torrent, "--encryption", "require")
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}, ExitOnComplete: true, ForceEncryption: true,
	})
	if err := leech.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, filepath.Join(src, "disk.img"), filepath.Join(leech.Save(), "disk.img"))
}

// TestUnencryptedGetRefused: torfs get --encryption off cannot talk to a
// libtorrent seeder that requires encryption: each attempt fails at the
// handshake, promptly, and nothing is downloaded.
func TestUnencryptedGetRefused(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "a.bin"), 1<<20, 19)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "a.bin"), harness.TorrentOptions{})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, ForceEncryption: true})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	get := harness.StartTorfs(t, bin, "get", "-v", "--encryption", "off", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed.Addr(), torrent)
	// The first attempt fails at the handshake (libtorrent drops a
	// plaintext one) well within the handshake timeout.
	line, err := get.WaitOutput(harness.Context(t, 30*time.Second), "cannot connect to peer")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line, "handshake") {
		t.Fatalf("the failure does not name the handshake: %q", line)
	}
	if err := get.Stop(); err != nil {
		t.Logf("stopping torfs get: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "a.bin")); err == nil && len(b) > 0 && strings.Trim(string(b), "\x00") != "" {
		t.Fatal("torfs get --encryption off wrote data from a peer that requires encryption")
	}
}

// TestRequiringSeedRefusesPlaintext: torfs seed --encryption require
// turns away a libtorrent leecher that speaks only plaintext, saying why.
func TestRequiringSeedRefusesPlaintext(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "b.bin"), 1<<20, 20)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "b.bin"), harness.TorrentOptions{})
	bin := harness.BuildTorfs(t)
	seed, addr := seedProcess(t, bin, filepath.Join(src, "b.bin"), torrent, "-v", "--encryption", "require")
	leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent, Peers: []string{addr}})
	if _, err := seed.WaitOutput(harness.Context(t, 30*time.Second), "did not encrypt its handshake"); err != nil {
		t.Fatal(err)
	}
	if got := leech.Status().Progress; got != 0 {
		t.Fatalf("the plaintext leecher has %v of the torrent", got)
	}
}

// TestMagnetFromEncryptedLibtorrent: a magnet link resolves from a
// libtorrent peer that speaks only MSE/PE with RC4, and downloads.
func TestMagnetFromEncryptedLibtorrent(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "notes.bin"), 3<<20+1, 21)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "notes.bin"), harness.TorrentOptions{})
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, ForceEncryption: true})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	bin := harness.BuildTorfs(t)
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "magnet:?xt=urn:btih:"+mi.InfoHash.String()+"&x.pe="+seed.Addr())
	harness.AssertSameFile(t, filepath.Join(src, "notes.bin"), filepath.Join(out, "notes.bin"))
}
