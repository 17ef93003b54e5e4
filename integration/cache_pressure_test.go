package integration

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// The cache-under-pressure tests stream a 96 MiB file of 256 KiB pieces
// from one libtorrent seeder through mounts whose cache is smaller than
// the file.
const (
	pressureSize  = 96 << 20
	pressurePiece = 256 << 10
)

// pressureSwarm is a seeded file for the cache-under-pressure tests.
type pressureSwarm struct {
	bin, torrent, src string
	mi                *metainfo.MetaInfo
	seed              *harness.Libtorrent
	sum               []byte // SHA-1 of the file
}

func newPressureSwarm(t *testing.T) *pressureSwarm {
	t.Helper()
	harness.Require(t, "/dev/fuse", "fusermount3")
	s := &pressureSwarm{bin: harness.BuildTorfs(t), src: t.TempDir()}
	path := filepath.Join(s.src, "big.bin")
	harness.RandomFile(t, path, pressureSize, 31)
	s.torrent = harness.MakeTorrent(t, path, harness.TorrentOptions{PieceLength: pressurePiece})
	s.seed = harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: s.torrent, Save: s.src, SeedMode: true, NoBlockLog: true})
	if err := s.seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.mi, err = metainfo.Load(s.torrent); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sums chunkSums
	buf := make([]byte, 1<<20)
	for off := int64(0); off < pressureSize; off += 1 << 20 {
		n := min(1<<20, pressureSize-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			t.Fatal(err)
		}
		sums.add(off, buf[:n])
	}
	s.sum = sums.digest()
	return s
}

// chunkSums digests a file read in 1 MiB chunks in any order: the SHA-1
// of each chunk's SHA-1 in file order. Readers need only one chunk of
// memory, where hashing the file in order would need all of it when a
// read starts in the middle.
type chunkSums [pressureSize >> 20][sha1.Size]byte

func (c *chunkSums) add(off int64, b []byte) { c[off>>20] = sha1.Sum(b) }

func (c *chunkSums) digest() []byte {
	h := sha1.New()
	for _, s := range c {
		h.Write(s[:])
	}
	return h.Sum(nil)
}

// pressureMount is one mount of the swarm's torrent with a cache budget.
type pressureMount struct {
	t      *testing.T
	proc   *harness.Process
	mnt    string
	data   string // the cache's data directory
	budget int64
	// maxUse is the most piece data seen on disk, sampled while reading.
	maxUse atomic.Int64
}

func (s *pressureSwarm) mount(t *testing.T, budget int64, args ...string) *pressureMount {
	t.Helper()
	mnt, cacheDir := t.TempDir(), t.TempDir()
	args = append([]string{"-v", "--peer", s.seed.Addr(), "--cache-dir", cacheDir, "--cache-size", fmt.Sprint(budget)}, args...)
	m := &pressureMount{t: t, mnt: mnt, budget: budget, data: filepath.Join(cacheDir, s.mi.InfoHash.String(), "data")}
	m.proc = mountTorfs(t, s.bin, s.torrent, mnt, args...)
	return m
}

// sample records the disk use of the cache until stop is closed.
func (m *pressureMount) sample(stop <-chan struct{}) (done <-chan struct{}) {
	d := make(chan struct{})
	go func() {
		defer close(d)
		for {
			m.maxUse.Store(max(m.maxUse.Load(), diskUse(m.data)))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return d
}

// readFile reads the whole file through the mount from offset start
// (wrapping around at the end), in 1 MiB reads, dropping the kernel's
// copy of each page as it goes so every read reaches torfs, and returns
// the file's chunkSums digest.
func (m *pressureMount) readFile(start int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(m.mnt, "big.bin"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var sums chunkSums
	buf := make([]byte, 1<<20)
	for k := int64(0); k < pressureSize; k += 1 << 20 {
		off := (start + k) % pressureSize
		n := min(1<<20, pressureSize-off)
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return nil, fmt.Errorf("reading at %d: %w", off, err)
		}
		sums.add(off, buf[:n])
		_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
	}
	return sums.digest(), nil
}

// check asserts the invariants every run keeps: disk use within the
// budget, and no claim of completion while the cache holds less than the
// file.
func (m *pressureMount) check() {
	t := m.t
	t.Helper()
	if use := max(m.maxUse.Load(), diskUse(m.data)); use > m.budget {
		t.Errorf("the cache held %d bytes of piece data, over its budget of %d", use, m.budget)
	}
	if out := m.proc.Output(); strings.Contains(out, "download complete") {
		t.Errorf("torfs said the download was complete while its cache holds %d of %d bytes", m.budget, pressureSize)
	}
}

// TestMountCacheUnderPressure: one sequential reader gets the right bytes
// whatever the budget (down to 4 pieces) and readahead (up to 64 MiB,
// more than the budget), within the budget on disk, downloading each
// piece about once when the budget holds at least 8 pieces.
func TestMountCacheUnderPressure(t *testing.T) {
	s := newPressureSwarm(t)
	for _, budget := range []int64{4 * pressurePiece, 16 << 20} {
		for _, readahead := range []string{"", "64MiB"} {
			name := fmt.Sprintf("budget%dKiB/readahead%s", budget>>10, cmp.Or(readahead, "Default"))
			t.Run(name, func(t *testing.T) {
				var args []string
				if readahead != "" {
					args = []string{"--readahead", readahead}
				}
				m := s.mount(t, budget, args...)
				stop := make(chan struct{})
				sampled := m.sample(stop)
				sum, err := m.readFile(0)
				close(stop)
				<-sampled
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sum, s.sum) {
					t.Fatal("the file read through the mount differs from the source")
				}
				m.check()
				st := mountStatus(t, m.mnt).Torrents[0]
				ratio := float64(st.Downloaded) / pressureSize
				t.Logf("downloaded %.1f MiB for a %d MiB file (%.2f times), %d evictions", float64(st.Downloaded)/(1<<20), pressureSize>>20, ratio, st.Evictions)
				if budget >= 8*pressurePiece && ratio > 1.1 {
					t.Errorf("downloaded %.2f times the file reading it once; want at most 1.1", ratio)
				}
			})
		}
	}
}

// TestMountCacheUnderPressureRereadsAndReaders: a 32 MiB cache serves a
// 96 MiB file read twice, and read by 2 and by 4 readers at once, each
// starting elsewhere.
func TestMountCacheUnderPressureRereadsAndReaders(t *testing.T) {
	s := newPressureSwarm(t)
	const budget = 32 << 20
	t.Run("twice", func(t *testing.T) {
		m := s.mount(t, budget)
		stop := make(chan struct{})
		sampled := m.sample(stop)
		for pass := range 2 {
			began := time.Now()
			sum, err := m.readFile(0)
			st := mountStatus(t, m.mnt).Torrents[0]
			t.Logf("pass %d: %v, downloaded %.1f MiB so far, %d evictions", pass+1, time.Since(began).Round(time.Millisecond), float64(st.Downloaded)/(1<<20), st.Evictions)
			if err != nil {
				t.Fatalf("pass %d: %v", pass+1, err)
			}
			if !bytes.Equal(sum, s.sum) {
				t.Fatalf("pass %d: the file read through the mount differs from the source", pass+1)
			}
		}
		close(stop)
		<-sampled
		m.check()
		if st := mountStatus(t, m.mnt).Torrents[0]; st.Downloaded < pressureSize+pressureSize/2 {
			t.Errorf("downloaded %d bytes in two passes over %d through a %d-byte cache: the second pass did not reach torfs", st.Downloaded, pressureSize, budget)
		}
	})
	for _, readers := range []int{2, 4} {
		t.Run(fmt.Sprintf("readers%d", readers), func(t *testing.T) {
			m := s.mount(t, budget)
			stop := make(chan struct{})
			sampled := m.sample(stop)
			var wg sync.WaitGroup
			sums := make([][]byte, readers)
			errs := make([]error, readers)
			for k := range readers {
				wg.Go(func() {
					start := int64(k) * (pressureSize / int64(readers)) / (1 << 20) * (1 << 20)
					sums[k], errs[k] = m.readFile(start)
				})
			}
			wg.Wait()
			st := mountStatus(t, m.mnt).Torrents[0]
			t.Logf("%d readers: downloaded %.1f MiB, %d evictions", readers, float64(st.Downloaded)/(1<<20), st.Evictions)
			close(stop)
			<-sampled
			for k := range readers {
				if errs[k] != nil {
					t.Fatalf("reader %d: %v", k, errs[k])
				}
				if !bytes.Equal(sums[k], s.sum) {
					t.Fatalf("reader %d read bytes that differ from the source", k)
				}
			}
			m.check()
		})
	}
}

// TestMountRefusesTinyCache: a budget below four pieces is refused at
// start, with the minimum in the message.
func TestMountRefusesTinyCache(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "small.bin"), 4<<20, 5)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "small.bin"), harness.TorrentOptions{PieceLength: pressurePiece})
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	r := harness.RunTorfsStatus(t, bin, "mount", "--cache-dir", t.TempDir(), "--cache-size", "512KiB", torrent, mnt)
	if r.Code == 0 {
		t.Fatalf("torfs mount accepted a cache of two pieces:\n%v", r)
	}
	if !strings.Contains(r.Stderr, "minimum of 1.0 MiB") {
		t.Errorf("the refusal does not name the minimum:\n%v", r)
	}
}
