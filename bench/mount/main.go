// Command mount benchmarks `torfs mount` streaming a file seeded by a
// local libtorrent seeder: time to first byte, seek latency, cold
// sequential read against `torfs get` of the same file, and warm re-read
// against reading the source file from the page cache, a cold read
// through a cache smaller than the file against one with no budget, and
// the same file over `torfs serve`'s HTTP against the mount.
// Every figure has its reference measured in the same run. Run it with
// `make bench-mount`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	torfsfs "github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/mount"
	"golang.org/x/sys/unix"
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes in the benchmark file")
	piece := flag.Int64("piece", 0, "piece length (0 = 256 KiB)")
	seeks := flag.Int("seeks", 10, "random 64 KiB reads for the seek latency")
	runs := flag.Int("runs", 3, "runs of the cold, warm and torfs get measurements (the median is reported)")
	flag.StringVar(&mountFlags, "mount-flags", "", "extra flags for torfs mount, space-separated (e.g. \"--readahead 64MiB\")")
	flag.StringVar(&smallCache, "small-cache", "64MiB", "cache budget of the small-cache cold read (\"\" = skip it)")
	flag.StringVar(&profileDir, "cpuprofile", "", "write a CPU profile of each cold-read mount into this directory (cold-N.prof; small-N.prof and unlimited-N.prof in the small-cache case)")
	flag.BoolVar(&smallCacheOnly, "small-cache-only", false, "run only the small-cache case")
	flag.BoolVar(&httpCase, "http", true, "compare torfs serve over HTTP with the mount (first byte, seeks, cold read)")
	flag.BoolVar(&httpOnly, "http-only", false, "run only the HTTP case")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *size, *piece, *seeks, max(*runs, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "bench-mount:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, size, piece int64, seeks, runs int) error {
	dir, err := os.MkdirTemp("", "torfs-bench-mount-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.BuildTorfsIn(ctx, dir)
	if err != nil {
		return err
	}
	torrent, save, err := harness.PrepareBenchTorrent(ctx, dir, size, piece)
	if err != nil {
		return err
	}
	// The file was just written: its writeback would slow down whatever
	// runs first.
	syscall.Sync()
	seeds, err := harness.LaunchSeeders(ctx, torrent, save, 1)
	if err != nil {
		return err
	}
	defer seeds[0].Close()
	seed := seeds[0].Addr()
	fmt.Printf("file: %d MiB, piece length %d KiB, one libtorrent seeder on loopback\n", size>>20, max(piece, 256<<10)>>10)
	if smallCacheOnly {
		// The first read of a run was slower whatever the budget (first
		// pairs 0.62 to 0.87 of the second ones): an unmeasured read
		// warms the seeder first, as the cases before it do in a full run.
		m, err := mountWith(ctx, bin, dir, torrent, seed, "", "unlimited")
		if err != nil {
			return err
		}
		_, err = ddRate(ctx, filepath.Join(m.dir, "bench.bin"), size)
		m.stop()
		if err != nil {
			return err
		}
		return smallCacheRuns(ctx, bin, dir, torrent, seed, size, runs)
	}
	if httpOnly {
		return httpRuns(ctx, bin, dir, torrent, seed, size, seeks, runs)
	}

	// Fresh mount: time to first byte, then seeks to places not fetched.
	start := time.Now()
	m, err := startMount(ctx, bin, dir, torrent, seed)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(m.dir, "bench.bin"))
	if err != nil {
		m.stop()
		return err
	}
	buf := make([]byte, 64<<10)
	if _, err := f.ReadAt(buf, 0); err != nil {
		m.stop()
		return fmt.Errorf("first read: %w", err)
	}
	ttfb := time.Since(start)
	var lat []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	segment := size / int64(seeks)
	for i := range seeks {
		// One offset per segment, in random order, past the readahead of
		// the previous reads.
		off := int64(i)*segment + rng.Int64N(segment/2)
		off -= off % (64 << 10)
		t := time.Now()
		if _, err := f.ReadAt(buf, off); err != nil {
			m.stop()
			return fmt.Errorf("seek read at %d: %w", off, err)
		}
		lat = append(lat, time.Since(t))
	}
	streamLat, err := seeksWhileStreaming(f, segment, seeks)
	if err != nil {
		m.stop()
		return err
	}
	f.Close()
	m.stop()
	slices.Sort(lat)
	fmt.Printf("time to first byte (mount start to 64 KiB at offset 0): %v (goal < 250ms; btfs 4.75s)\n", ttfb.Round(time.Millisecond))
	fmt.Printf("seek latency (64 KiB at %d random unfetched offsets): p50 %v, max %v (goal p50 < 50ms; btfs p50 150ms)\n",
		seeks, lat[len(lat)/2].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond))
	fmt.Printf("seek while streaming (64 KiB after 8 MiB read sequentially elsewhere, %d times): p50 %v, max %v\n",
		seeks, streamLat[len(streamLat)/2].Round(100*time.Microsecond), streamLat[len(streamLat)-1].Round(100*time.Microsecond))

	// Cold sequential read on a fresh mount, then warm re-read; torfs get
	// and the page-cached source file as references, alternating so that
	// load from elsewhere on the machine hits both alike.
	local := filepath.Join(save, "bench.bin")
	var colds, warms, fuses, gets, cacheds, coldBusy, getBusy []float64
	// An unmeasured warm-up: the first run on a fresh machine (or VM,
	// whose memory the host hands out on first touch) is slower than the
	// rest, and would count against whichever goes first.
	if _, err := coldWarm(ctx, bin, dir, torrent, seed, size, ""); err != nil {
		return err
	}
	for run := range runs {
		profile := ""
		if profileDir != "" {
			profile = filepath.Join(profileDir, fmt.Sprintf("cold-%d.prof", run))
		}
		// Alternating which goes first, so that neither always runs
		// on a machine still busy with the previous measurement.
		var r readRates
		var get, busy float64
		for k := range 2 {
			if (k+run)%2 == 0 {
				if r, err = coldWarm(ctx, bin, dir, torrent, seed, size, profile); err != nil {
					return err
				}
			} else {
				cpu := startCPU()
				if get, err = measureGet(ctx, bin, torrent, seed, size); err != nil {
					return err
				}
				busy = cpu.busyPercent()
			}
		}
		getBusy = append(getBusy, busy)
		if _, err := ddRate(ctx, local, size); err != nil { // into the page cache
			return err
		}
		cached, err := ddRate(ctx, local, size)
		if err != nil {
			return err
		}
		colds, warms, fuses, gets, cacheds = append(colds, r.cold), append(warms, r.warm), append(fuses, r.fuse), append(gets, get), append(cacheds, cached)
		coldBusy = append(coldBusy, r.coldBusy)
	}
	cold, warm, get, cached := median(colds), median(warms), median(gets), median(cacheds)
	fmt.Printf("median of %d runs\n", runs)
	fmt.Printf("cold sequential read (dd bs=1M): %.0f MB/s; torfs get of the same file %.0f MB/s; ratio %.2f (goal >= 0.8; btfs 11.6 MB/s)\n",
		cold, get, cold/get)
	fmt.Printf("warm re-read (dd bs=1M): %.0f MB/s; the source file from the page cache %.0f MB/s; ratio %.2f (goal >= 0.5; btfs 13.2 MB/s)\n",
		warm, cached, warm/cached)
	fmt.Printf("  runs: cold %s; torfs get %s; warm %s; page cache %s\n", list(colds), list(gets), list(warms), list(cacheds))
	fmt.Printf("  machine CPU busy (all cores, %%): cold read %s; torfs get %s\n", list(coldBusy), list(getBusy))
	fmt.Printf("  re-read through FUSE from the torfs cache (kernel page cache dropped): %s MB/s (the mount's ceiling for cold reads)\n", list(fuses))
	if httpCase {
		if err := httpRuns(ctx, bin, dir, torrent, seed, size, seeks, runs); err != nil {
			return err
		}
	}
	if smallCache == "" {
		return nil
	}
	return smallCacheRuns(ctx, bin, dir, torrent, seed, size, runs)
}

// smallCacheRuns reads the file cold with dd through a mount whose cache
// budget (-small-cache) is smaller than the file, alternating with a
// cold read through a mount without a budget, and prints the ratio of
// their rates and how many times the file the small cache downloaded.
func smallCacheRuns(ctx context.Context, bin, dir, torrent, seed string, size int64, runs int) error {
	var smalls, unlimited, amps, pairs, smallCPU, unlimitedCPU, smallDisk, unlimitedDisk []float64
	var evictions []int64
	for run := range runs {
		for k := range 2 {
			budget := smallCache
			if (k+run)%2 == 1 {
				budget = "unlimited"
			}
			profile := ""
			if profileDir != "" {
				name := "small"
				if budget == "unlimited" {
					name = "unlimited"
				}
				profile = filepath.Join(profileDir, fmt.Sprintf("%s-%d.prof", name, run))
			}
			m, err := mountWith(ctx, bin, dir, torrent, seed, profile, budget)
			if err != nil {
				return err
			}
			rate, err := ddRate(ctx, filepath.Join(m.dir, "bench.bin"), size)
			var st mount.TorrentStatus
			if err == nil {
				st, err = torrentStatus(m.dir)
			}
			cpu := processCPU(m.cmd.Process.Pid)
			disk, derr := harness.ProcessDiskWrites(m.cmd.Process.Pid)
			diskMiB := float64(disk) / (1 << 20)
			if derr != nil {
				diskMiB = math.NaN() // /proc does not say
			}
			m.stop()
			if err != nil {
				return err
			}
			if budget == "unlimited" {
				unlimited = append(unlimited, rate)
				unlimitedCPU = append(unlimitedCPU, cpu)
				unlimitedDisk = append(unlimitedDisk, diskMiB)
				continue
			}
			smalls = append(smalls, rate)
			smallCPU = append(smallCPU, cpu)
			smallDisk = append(smallDisk, diskMiB)
			amps = append(amps, float64(st.Downloaded)/float64(size))
			evictions = append(evictions, st.Evictions)
		}
	}
	for i := range smalls {
		pairs = append(pairs, smalls[i]/unlimited[i])
	}
	small, unl := median(smalls), median(unlimited)
	fmt.Printf("small cache (--cache-size %s), cold sequential read (dd bs=1M), median of %d runs: %.0f MB/s; without a budget %.0f MB/s; ratio %.2f (goal >= 0.9)\n",
		smallCache, runs, small, unl, small/unl)
	fmt.Printf("  download amplification (downloaded bytes / file bytes): median %.3f (goal <= 1.1); runs %s; evictions %v\n",
		median(amps), listPrec(amps, 3), evictions)
	fmt.Printf("  runs: small cache %s; without a budget %s; ratio of each pair %s\n", list(smalls), list(unlimited), listPrec(pairs, 2))
	fmt.Printf("  torfs mount CPU seconds (user+system, whole mount): small cache %s; without a budget %s\n", listPrec(smallCPU, 1), listPrec(unlimitedCPU, 1))
	fmt.Printf("  MiB the mount wrote to disk while reading (write_bytes - cancelled_write_bytes): small cache %s; without a budget %s\n", list(smallDisk), list(unlimitedDisk))
	return nil
}

// processCPU returns the user and system CPU seconds process pid has
// used, or 0 if /proc does not say.
func processCPU(pid int) float64 {
	d, _ := harness.ProcessCPU(pid)
	return d.Seconds()
}

// torrentStatus asks the mount at mnt for its status and returns that of
// its one torrent.
func torrentStatus(mnt string) (mount.TorrentStatus, error) {
	buf := make([]byte, 256)
	n, err := unix.Getxattr(mnt, torfsfs.XattrStatus, buf)
	if err != nil {
		return mount.TorrentStatus{}, fmt.Errorf("status address of %s: %w", mnt, err)
	}
	resp, err := http.Get(string(buf[:n]))
	if err != nil {
		return mount.TorrentStatus{}, fmt.Errorf("asking the mount's status: %w", err)
	}
	defer resp.Body.Close()
	var st mount.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return mount.TorrentStatus{}, fmt.Errorf("decoding the mount's status: %w", err)
	}
	if len(st.Torrents) != 1 {
		return mount.TorrentStatus{}, fmt.Errorf("the mount serves %d torrents, want 1", len(st.Torrents))
	}
	return st.Torrents[0], nil
}

// seeksWhileStreaming times 64 KiB reads made right after streaming
// elsewhere, as a video player seeks: the readahead of the stream it
// leaves is still on its way. Each stream starts in the second half of a
// segment (the plain seeks touched only the first half) and the seek
// lands a quarter segment further; with 1 GiB and 10 seeks that is past
// the stream's 16 MiB readahead.
func seeksWhileStreaming(f *os.File, segment int64, seeks int) ([]time.Duration, error) {
	buf := make([]byte, 1<<20)
	var lat []time.Duration
	for i := range seeks {
		at := int64(i)*segment + segment/2
		at -= at % (1 << 20)
		for k := range int64(8) {
			if _, err := f.ReadAt(buf, at+k<<20); err != nil {
				return nil, fmt.Errorf("streaming read at %d: %w", at+k<<20, err)
			}
		}
		to := at + segment/4
		to -= to % (64 << 10)
		start := time.Now()
		if _, err := f.ReadAt(buf[:64<<10], to); err != nil {
			return nil, fmt.Errorf("seek read at %d: %w", to, err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat, nil
}

// readRates are the rates of one fresh mount, MB/s.
type readRates struct {
	cold     float64 // every byte downloaded
	warm     float64 // from the kernel's page cache
	fuse     float64 // through FUSE from the torfs cache, page cache dropped
	coldBusy float64 // machine CPU busy during the cold read, %
}

// coldWarm reads the file with dd on a fresh mount: cold, warm, and
// again after dropping the kernel's page cache of the file, which shows
// what the FUSE path alone can deliver.
func coldWarm(ctx context.Context, bin, dir, torrent, seed string, size int64, profile string) (readRates, error) {
	var r readRates
	m, err := mountProfiled(ctx, bin, dir, torrent, seed, profile)
	if err != nil {
		return r, err
	}
	defer m.stop()
	path := filepath.Join(m.dir, "bench.bin")
	cpu := startCPU()
	if r.cold, err = ddRate(ctx, path, size); err != nil {
		return r, err
	}
	r.coldBusy = cpu.busyPercent()
	if r.warm, err = ddRate(ctx, path, size); err != nil {
		return r, err
	}
	if err := dropPageCache(path); err != nil {
		return r, err
	}
	r.fuse, err = ddRate(ctx, path, size)
	return r, err
}

// dropPageCache asks the kernel to forget its cached pages of path, so
// that the next read goes to the file system again.
func dropPageCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("dropping the page cache of %s: %w", path, err)
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// mountFlags are extra flags for every torfs mount (-mount-flags).
var mountFlags string

// smallCacheOnly skips every measurement but the small-cache case
// (-small-cache-only).
var smallCacheOnly bool

// httpCase and httpOnly run the comparison of torfs serve over HTTP
// with the mount (-http, -http-only).
var httpCase, httpOnly bool

// smallCache is the cache budget of the small-cache read (-small-cache).
var smallCache string

// profileDir receives CPU profiles of the cold-read mounts (-cpuprofile).
var profileDir string

// mounted is a running `torfs mount`.
type mounted struct {
	dir   string
	cache string
	cmd   *exec.Cmd
	done  chan struct{}
}

// startMount starts torfs mount with a fresh cache and mountpoint and returns
// once it says the mount is live.
func startMount(ctx context.Context, bin, dir, torrent, seed string) (*mounted, error) {
	return mountProfiled(ctx, bin, dir, torrent, seed, "")
}

// mountProfiled is mount, with a CPU profile of the mount written to
// profile unless it is "".
func mountProfiled(ctx context.Context, bin, dir, torrent, seed, profile string) (*mounted, error) {
	return mountWith(ctx, bin, dir, torrent, seed, profile, "unlimited")
}

// mountWith is mountProfiled with a cache budget for --cache-size.
func mountWith(ctx context.Context, bin, dir, torrent, seed, profile, budget string) (*mounted, error) {
	mnt, err := os.MkdirTemp(dir, "mnt-")
	if err != nil {
		return nil, err
	}
	cache, err := os.MkdirTemp(dir, "cache-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"mount", "--no-dht", "--peer", seed, "--listen", "127.0.0.1:0",
		"--cache-dir", cache, "--cache-size", budget}, strings.Fields(mountFlags)...)
	cmd := exec.CommandContext(ctx, bin, append(args, torrent, mnt)...)
	if profile != "" {
		cmd.Env = append(os.Environ(), "TORFS_CPUPROFILE="+profile)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &mounted{dir: mnt, cache: cache, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(m.done) }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "mounted ") {
			go func() {
				for sc.Scan() {
				}
			}()
			return m, nil
		}
	}
	m.stop()
	return nil, fmt.Errorf("torfs mount did not start:\n%s", stderr.String())
}

// stop unmounts with SIGINT, and kills the process if it hangs.
func (m *mounted) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.done:
	case <-time.After(20 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		_ = harness.Unmount(m.dir)
	}
	// Each run starts from as much free memory as the last.
	_ = os.RemoveAll(m.cache)
}

func list(v []float64) string { return listPrec(v, 0) }

// listPrec formats v with prec decimals, space-separated.
func listPrec(v []float64, prec int) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.*f", prec, x))
	}
	return strings.Join(s, " ")
}

// ddRate reads path with dd bs=1M and returns MB/s (10^6 bytes per s).
func ddRate(ctx context.Context, path string, size int64) (float64, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "dd", "if="+path, "of=/dev/null", "bs=1M").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd %s: %v: %s", path, err, out)
	}
	return float64(size) / time.Since(start).Seconds() / 1e6, nil
}

// measureGet runs torfs get into a fresh directory and returns MB/s over
// the process's whole life.
func measureGet(ctx context.Context, bin, torrent, seed string, size int64) (float64, error) {
	out, err := os.MkdirTemp("", "torfs-bench-get-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(out)
	start := time.Now()
	res, err := exec.CommandContext(ctx, bin, "get", "--no-dht", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed, torrent).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("torfs get: %v\n%s", err, res)
	}
	return float64(size) / time.Since(start).Seconds() / 1e6, nil
}
