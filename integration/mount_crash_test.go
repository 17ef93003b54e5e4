package integration

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestMountKilledKeepsJournaledPieces: a `torfs mount --keep` killed with
// SIGKILL after streaming 40 MiB from a libtorrent seeder comes back, with
// the seeder gone, with every piece its journal recorded before the kill:
// verified at once, and read through the mount with the right bytes.
func TestMountKilledKeepsJournaledPieces(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	const size, read, pl = 64 << 20, 40 << 20, 256 << 10
	src := t.TempDir()
	local := filepath.Join(src, "movie.mkv")
	harness.RandomFile(t, local, size, 13)
	torrent := harness.MakeTorrent(t, local, harness.TorrentOptions{PieceLength: pl})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, SeedMode: true, NoBlockLog: true})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, read)
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadFull(f, want)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mnt, cacheDir := t.TempDir(), t.TempDir()
	args := []string{"--peer", seed.Addr(), "--cache-dir", cacheDir, "--keep"}
	movie := filepath.Join(mnt, "movie.mkv")

	p := mountTorfs(t, bin, torrent, mnt, args...)
	if got := readPrefix(t, movie, read); !bytes.Equal(got, want) {
		t.Fatal("the first mount read wrong bytes")
	}
	// Every piece read is verified now; the journal records it within
	// about a second. Kill the mount once it has.
	readAt := time.Now()
	state := filepath.Join(cacheDir, mi.InfoHash.String(), "state")
	if err := waitRecorded(harness.Context(t, 30*time.Second), state, read/pl); err != nil {
		t.Fatal(err)
	}
	t.Logf("the journal recorded the %d pieces read %v after the read ended", read/pl, time.Since(readAt).Round(time.Millisecond))
	before := mountStatus(t, mnt).Torrents[0].Verified
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(harness.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	recorded, err := cache.Recorded(state)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified at the kill: %d MiB; recorded: %d pieces", before>>20, len(recorded))

	// With the seeder gone, the next mount has only what it kept to serve.
	if err := seed.Stop(); err != nil {
		t.Fatal(err)
	}
	mountTorfs(t, bin, torrent, mnt, args...)
	st := mountStatus(t, mnt).Torrents[0]
	if min := int64(len(recorded)) * pl; st.Verified < min || st.Verified < read {
		t.Fatalf("after the restart %d bytes are verified; the journal recorded %d pieces (%d bytes), %d bytes were read", st.Verified, len(recorded), min, read)
	}
	if got := readPrefix(t, movie, read); !bytes.Equal(got, want) {
		t.Fatal("the mount after the restart read wrong bytes")
	}
	if got := mountStatus(t, mnt).Torrents[0].Downloaded; got != 0 {
		t.Errorf("the mount after the restart downloaded %d bytes", got)
	}
}

// readPrefix reads the first n bytes of the file at path.
func readPrefix(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}
