package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
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
// handshake, promptly, and nothing is downloaded. And torfs seed
// --encryption require refuses a libtorrent leecher that speaks only
// plaintext.
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
