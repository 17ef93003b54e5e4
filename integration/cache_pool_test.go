package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestMountDirectoryOneBudget: a mount of a directory of 3 torrents with
// --cache-size 32MiB bounds the piece data of all of them together: the
// three 24 MiB files, read at once from start to end, all come back with
// the right bytes, and the caches never hold more than 32 MiB in total.
func TestMountDirectoryOneBudget(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	const n, size, budget = 3, 24 << 20, 32 << 20
	src, dir, cacheDir := t.TempDir(), t.TempDir(), t.TempDir()
	args := []string{"-v", "--cache-dir", cacheDir, "--cache-size", fmt.Sprint(budget)}
	var data []string // the caches' data directories
	wants := make([][]byte, n)
	for k := range n {
		m := &pressureSwarm{src: src, root: filepath.Join(src, fmt.Sprintf("t%d.bin", k))}
		harness.RandomFile(t, m.root, size, uint64(60+k))
		torrent := harness.MakeTorrent(t, m.root, harness.TorrentOptions{PieceLength: pressurePiece})
		seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src, SeedMode: true, NoBlockLog: true})
		if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(torrent)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("t%d.torrent", k)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		mi, err := metainfo.Load(torrent)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, filepath.Join(cacheDir, mi.InfoHash.String(), "data"))
		args = append(args, "--peer", seed.Addr())
		wants[k] = m.digest(t, filepath.Base(m.root), size)
	}
	mnt := t.TempDir()
	mountTorfs(t, bin, dir, mnt, args...)
	use := func() int64 {
		var total int64
		for _, d := range data {
			total += diskUse(d)
		}
		return total
	}
	var maxUse atomic.Int64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxUse.Store(max(maxUse.Load(), use()))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	sums := make([][]byte, n)
	errs := make([]error, n)
	for k := range n {
		m := &pressureMount{mnt: filepath.Join(mnt, fmt.Sprintf("t%d", k))}
		wg.Go(func() { sums[k], errs[k] = m.readPath(fmt.Sprintf("t%d.bin", k), size, 0) })
	}
	wg.Wait()
	close(stop)
	<-sampled
	for k := range n {
		if errs[k] != nil {
			t.Errorf("reader of t%d.bin: %v", k, errs[k])
		} else if !bytes.Equal(sums[k], wants[k]) {
			t.Errorf("reader of t%d.bin read bytes that differ from the source", k)
		}
	}
	if u := max(maxUse.Load(), use()); u > budget {
		t.Errorf("the three caches held %d bytes of piece data, over the shared budget of %d", u, budget)
	}
	st := mountStatus(t, mnt)
	if !st.CacheShared || st.CacheBudget != budget || st.CacheUsed > budget || len(st.Torrents) != n {
		t.Errorf("status: shared %v, %d of %d bytes, %d torrents; want a shared budget of %d over %d torrents",
			st.CacheShared, st.CacheUsed, st.CacheBudget, len(st.Torrents), budget, n)
	}
	var downloaded, evictions int64
	for _, ts := range st.Torrents {
		downloaded += ts.Downloaded
		evictions += ts.Evictions
		if ts.CacheBudget != budget {
			t.Errorf("torrent %s reports a budget of %d, want the shared %d", ts.Name, ts.CacheBudget, budget)
		}
	}
	if evictions == 0 {
		t.Error("nothing was evicted: the test proves nothing")
	}
	t.Logf("%d readers of %d MiB files in %d torrents: downloaded %.1f MiB (%.2f times), %d evictions, at most %.1f MiB on disk",
		n, size>>20, n, float64(downloaded)/(1<<20), float64(downloaded)/float64(n*size), evictions, float64(maxUse.Load())/(1<<20))
}
