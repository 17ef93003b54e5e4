package integration

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// TestRateLimitsHold: --down-rate and --up-rate bound what passes. A
// 20 MiB download limited to 2 MiB/s from a libtorrent seeder, and the
// same upload from torfs seed to a libtorrent leecher, each take at least
// the time the limit allows once its quarter-second burst is spent: at
// most 10% over the limit across about 10 s. A busy machine only makes
// them slower, so only the upper side is asserted; the rates are logged.
func TestRateLimitsHold(t *testing.T) {
	t.Parallel()
	const size, rate = 20 << 20, 2 << 20
	const burst = rate / 4
	src := t.TempDir()
	data := filepath.Join(src, "limited.bin")
	harness.RandomFile(t, data, size, 23)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	bin := harness.BuildTorfs(t)
	check := func(what string, took time.Duration) {
		t.Helper()
		got := float64(size-burst) / took.Seconds()
		t.Logf("%s: %.2f MiB/s after the burst, limit 2 MiB/s (%.0f%%)", what, got/(1<<20), 100*got/rate)
		if got > 1.1*rate {
			t.Errorf("%s: 20 MiB in %v, %.2f MiB/s: more than 10%% over the limit of 2 MiB/s", what, took.Round(time.Millisecond), got/(1<<20))
		}
	}

	t.Run("down", func(t *testing.T) {
		t.Parallel()
		seeder := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
		out := t.TempDir()
		start := time.Now()
		harness.RunTorfs(t, bin, "get", "--no-dht", "--down-rate", "2MiB", "-o", out, "--listen", "127.0.0.1:0", "--peer", seeder.Addr(), torrent)
		check("torfs get --down-rate 2MiB", time.Since(start))
		harness.AssertSameFile(t, data, filepath.Join(out, "limited.bin"))
	})
	t.Run("up", func(t *testing.T) {
		t.Parallel()
		seed := startSeed(t, bin, data, torrent, "--no-dht", "--up-rate", "2MiB")
		start := time.Now()
		leech := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Leech, Torrent: torrent, Peers: []string{seed}})
		if err := leech.WaitFinished(harness.Context(t, 2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("torfs seed --up-rate 2MiB", time.Since(start))
		harness.AssertSameFile(t, data, filepath.Join(leech.Save(), "limited.bin"))
	})
}
