// Command swarm benchmarks torfs's swarm engine against libtorrent on
// loopback: torfs get vs a libtorrent leecher downloading from one and
// from three libtorrent seeders, then a libtorrent leecher downloading
// from torfs seed vs from a libtorrent seeder, then the first case again
// with every peer forced to MSE/PE with RC4. It prints MB/s (10^6 bytes
// per second), the ratios, the time torfs get takes from reporting the
// download complete to exiting (closing the connections, flushing the
// data and saving the resume state), the MB/s timed to its exit against
// libtorrent, the peak RSS of torfs get and its CPU time per MB,
// plaintext and encrypted. Run it with `make bench-swarm`.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes in the benchmark file")
	piece := flag.Int64("piece", 0, "piece length (0 = 256 KiB)")
	runs := flag.Int("runs", 1, "runs of each measurement (the median is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write CPU profiles of torfs get to this file name + .1 and .3 (seeders)")
	seedprofile := flag.String("seedprofile", "", "write CPU profiles of torfs seed to this file name + .utp and .tcp (first run of the uTP case) and .reverse")
	seeders := flag.String("seeders", "1,3", "comma-separated numbers of libtorrent seeders to download from")
	reverse := flag.Bool("reverse", true, "also measure a libtorrent leecher downloading from torfs seed")
	encrypted := flag.Bool("encrypted", true, "also measure the download from 1 seeder with every peer forced to RC4 (MSE/PE)")
	torfs := flag.String("torfs", "", "torfs binary to measure (default: build one from this module)")
	utpCase := flag.Bool("utp", true, "also measure torfs get from torfs seed over uTP alone against TCP alone")
	utpFlags := flag.String("utp-flags", "", "more flags, space-separated, for torfs get and torfs seed in the uTP case (e.g. \"--encryption off\")")
	flag.Parse()
	var counts []int
	for _, f := range strings.Split(*seeders, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench-swarm: -seeders: %q is not a positive number\n", f)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *torfs, *size, *piece, *runs, *cpuprofile, *seedprofile, counts, *reverse, *encrypted, *utpCase, strings.Fields(*utpFlags)); err != nil {
		fmt.Fprintln(os.Stderr, "bench-swarm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin string, size, piece int64, runs int, cpuprofile, seedprofile string, counts []int, reverse, encrypted, utpCase bool, utpFlags []string) error {
	dir, err := os.MkdirTemp("", "torfs-bench-swarm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = harness.BuildTorfsIn(ctx, dir); err != nil {
			return err
		}
	}
	torrent, save, err := harness.PrepareBenchTorrent(ctx, dir, size, piece)
	if err != nil {
		return err
	}
	fmt.Printf("file: %d MiB, piece length %d KiB, %d run(s) each, median reported\n", size>>20, max(piece, 256<<10)>>10, runs)

	var plainCPU []float64 // torfs get's CPU seconds per MB from one seeder
	for _, n := range counts {
		seeds, err := harness.LaunchSeeders(ctx, torrent, save, n)
		if err != nil {
			return err
		}
		var addrs []string
		for _, s := range seeds {
			addrs = append(addrs, s.Addr())
		}
		var lt, tf, tfWhole, tail []float64
		var rss int64
		for r := range runs {
			v, err := harness.MeasureLibtorrentDownload(ctx, torrent, addrs, size)
			if err != nil {
				return err
			}
			lt = append(lt, v)
			prof := ""
			if cpuprofile != "" && r == 0 {
				prof = fmt.Sprintf("%s.%d", cpuprofile, n)
			}
			g, err := measureGet(ctx, bin, torrent, addrs, size, prof)
			if err != nil {
				return err
			}
			mb := float64(size) / 1e6
			tf = append(tf, mb/g.complete.Seconds())
			tfWhole = append(tfWhole, mb/g.exit.Seconds())
			tail = append(tail, (g.exit - g.complete).Seconds())
			rss = max(rss, g.rss)
			if n == 1 {
				plainCPU = append(plainCPU, g.cpuPerMB)
			}
		}
		for _, s := range seeds {
			s.Close()
		}
		fmt.Printf("download from %d libtorrent seeder(s): torfs get %.0f MB/s, libtorrent %.0f MB/s, ratio %.2f (goal >= 1.2); torfs get peak RSS %d MB (goal < 100)\n",
			n, median(tf), median(lt), median(tf)/median(lt), rss>>20)
		fmt.Printf("  timed to process exit (data synced, state saved): torfs get %.0f MB/s, ratio %.2f (goal >= 1.2); complete to exit %.3f s (goal < 0.5 for 1 GiB)\n",
			median(tfWhole), median(tfWhole)/median(lt), median(tail))
		fmt.Printf("  runs: torfs %s; libtorrent %s; torfs to exit %s; complete to exit (s) %s\n", list(tf), list(lt), list(tfWhole), listSeconds(tail))
	}
	if reverse {
		if err := runReverse(ctx, bin, torrent, save, size, runs, seedprofile); err != nil {
			return err
		}
	}
	if encrypted {
		if err := runEncrypted(ctx, bin, torrent, save, size, runs, plainCPU); err != nil {
			return err
		}
	}
	if utpCase {
		return runUTP(ctx, bin, torrent, save, size, runs, seedprofile, utpFlags)
	}
	return nil
}

// runUTP measures torfs get from torfs seed on loopback with both over
// uTP alone (--no-tcp), against both over TCP alone (--no-utp), the
// runs alternating, and prints the rates and the CPU per MB of torfs get
// and of torfs seed (while it serves, not while it checks its data).
// Both get the flags extra as well.
func runUTP(ctx context.Context, bin, torrent, save string, size int64, runs int, seedprofile string, extra []string) error {
	type side struct {
		flag, name         string
		rate, cpu, seedCPU []float64
	}
	sides := []*side{{flag: "--no-tcp", name: "utp"}, {flag: "--no-utp", name: "tcp"}}
	for r := range runs {
		for k := range sides {
			s := sides[(k+r)%2]
			prof := ""
			if seedprofile != "" && r == 0 {
				prof = seedprofile + "." + s.name
			}
			flags := append([]string{s.flag}, extra...)
			addr, seed, stop, err := startTorfsSeed(ctx, bin, torrent, save, prof, flags...)
			if err != nil {
				return err
			}
			before, okBefore := procCPU(seed.Process.Pid)
			g, err := measureGet(ctx, bin, torrent, []string{addr}, size, "", flags...)
			after, okAfter := procCPU(seed.Process.Pid)
			stop()
			if err != nil {
				return fmt.Errorf("torfs get %s from torfs seed %s: %w", s.flag, s.flag, err)
			}
			s.rate = append(s.rate, float64(size)/1e6/g.complete.Seconds())
			s.cpu = append(s.cpu, g.cpuPerMB)
			if okBefore && okAfter {
				s.seedCPU = append(s.seedCPU, (after-before).Seconds()/(float64(size)/1e6))
			}
		}
	}
	u, tcp := sides[0], sides[1]
	fmt.Printf("torfs get from torfs seed on loopback: uTP alone %.0f MB/s (goal >= 300), TCP alone %.0f MB/s, ratio %.2f\n",
		median(u.rate), median(tcp.rate), median(u.rate)/median(tcp.rate))
	fmt.Printf("  torfs get CPU (user+system) per MB: uTP %.2f ms, TCP %.2f ms, ratio %.2f\n",
		median(u.cpu)*1e3, median(tcp.cpu)*1e3, median(u.cpu)/median(tcp.cpu))
	if len(u.seedCPU) == runs && len(tcp.seedCPU) == runs {
		fmt.Printf("  torfs seed CPU (user+system) per MB: uTP %.2f ms, TCP %.2f ms, ratio %.2f\n",
			median(u.seedCPU)*1e3, median(tcp.seedCPU)*1e3, median(u.seedCPU)/median(tcp.seedCPU))
	}
	fmt.Printf("  runs: uTP %s; TCP %s\n", list(u.rate), list(tcp.rate))
	return nil
}

// runReverse measures a libtorrent leecher downloading from torfs seed
// against one downloading from a libtorrent seeder.
func runReverse(ctx context.Context, bin, torrent, save string, size int64, runs int, seedprofile string) error {
	seeds, err := harness.LaunchSeeders(ctx, torrent, save, 1)
	if err != nil {
		return err
	}
	defer seeds[0].Close()
	prof := ""
	if seedprofile != "" {
		prof = seedprofile + ".reverse"
	}
	seedAddr, _, stopSeed, err := startTorfsSeed(ctx, bin, torrent, save, prof)
	if err != nil {
		return err
	}
	defer stopSeed()
	var fromTorfs, fromLT []float64
	for range runs {
		v, err := harness.MeasureLibtorrentDownload(ctx, torrent, []string{seedAddr}, size)
		if err != nil {
			return fmt.Errorf("libtorrent from torfs seed: %w", err)
		}
		fromTorfs = append(fromTorfs, v)
		v, err = harness.MeasureLibtorrentDownload(ctx, torrent, []string{seeds[0].Addr()}, size)
		if err != nil {
			return err
		}
		fromLT = append(fromLT, v)
	}
	fmt.Printf("libtorrent leecher from torfs seed %.0f MB/s, from a libtorrent seeder %.0f MB/s, ratio %.2f (goal >= 1.0)\n",
		median(fromTorfs), median(fromLT), median(fromTorfs)/median(fromLT))
	fmt.Printf("  runs: from torfs %s; from libtorrent %s\n", list(fromTorfs), list(fromLT))
	return nil
}

// runEncrypted measures torfs get --encryption require against a
// libtorrent leecher, both from a libtorrent seeder that speaks only
// MSE/PE with RC4, and torfs get's CPU per MB against plainCPU (from one
// seeder in plaintext; the comparison is skipped without it).
func runEncrypted(ctx context.Context, bin, torrent, save string, size int64, runs int, plainCPU []float64) error {
	seeds, err := harness.LaunchEncryptedSeeders(ctx, torrent, save, 1)
	if err != nil {
		return err
	}
	defer seeds[0].Close()
	addrs := []string{seeds[0].Addr()}
	var lt, tf, cpu []float64
	for range runs {
		v, err := harness.MeasureEncryptedLibtorrentDownload(ctx, torrent, addrs, size)
		if err != nil {
			return fmt.Errorf("encrypted libtorrent leecher: %w", err)
		}
		lt = append(lt, v)
		g, err := measureGet(ctx, bin, torrent, addrs, size, "", "--encryption", "require")
		if err != nil {
			return fmt.Errorf("torfs get --encryption require: %w", err)
		}
		tf = append(tf, float64(size)/1e6/g.complete.Seconds())
		cpu = append(cpu, g.cpuPerMB)
	}
	fmt.Printf("download from 1 libtorrent seeder, all RC4 (MSE/PE): torfs get %.0f MB/s, libtorrent %.0f MB/s, ratio %.2f (goal >= 1.0)\n",
		median(tf), median(lt), median(tf)/median(lt))
	fmt.Printf("  runs: torfs %s; libtorrent %s\n", list(tf), list(lt))
	if len(plainCPU) > 0 {
		fmt.Printf("torfs get CPU (user+system) per MB from 1 seeder: plaintext %.2f ms, RC4 %.2f ms, ratio %.2f\n",
			median(plainCPU)*1e3, median(cpu)*1e3, median(cpu)/median(plainCPU))
	}
	return nil
}

// getRun is one run of torfs get.
type getRun struct {
	// complete is the time from starting the process to its report
	// that every piece is verified (the moment libtorrent's own timing
	// ends too); exit the time to the process's exit, which adds
	// closing: connections, flushing the data, saving the state.
	complete, exit time.Duration
	rss            int64   // peak RSS in bytes
	cpuPerMB       float64 // CPU seconds (user and system) per MB
}

// measureGet runs torfs get into a fresh directory; extra are more flags.
func measureGet(ctx context.Context, bin, torrent string, peers []string, size int64, cpuprofile string, extra ...string) (getRun, error) {
	var none getRun
	out, err := os.MkdirTemp("", "torfs-bench-get-")
	if err != nil {
		return none, err
	}
	defer os.RemoveAll(out)
	args := append([]string{"get", "--no-dht", "-o", out, "--listen", "127.0.0.1:0"}, extra...)
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, torrent)...)
	cmd.Env = append(os.Environ(), "TORFS_BENCH_TIMES=1")
	if cpuprofile != "" {
		cmd.Env = append(cmd.Env, "TORFS_CPUPROFILE="+cpuprofile)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return none, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return none, err
	}
	var completed time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "downloaded ") && completed == 0 {
			completed = time.Since(start)
		}
	}
	if err := cmd.Wait(); err != nil {
		return none, fmt.Errorf("torfs get: %v\n%s", err, stderr.String())
	}
	g := getRun{complete: completed, exit: time.Since(start)}
	// get stamps the moment it completed itself (wall clock), when it
	// knows how; the line on stdout may be read late on a busy machine.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "torfs-bench: complete at "); ok {
			if ns, err := strconv.ParseInt(v, 10, 64); err == nil {
				g.complete = time.Unix(0, ns).Sub(start.Round(0))
			}
		}
	}
	fi, err := os.Stat(filepath.Join(out, "bench.bin"))
	if err != nil || fi.Size() != size || completed == 0 {
		return none, fmt.Errorf("torfs get did not complete the file: %v\n%s", err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		g.rss = ru.Maxrss << 10 // kilobytes on Linux
	}
	g.cpuPerMB = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds() / (float64(size) / 1e6)
	return g, nil
}

// startTorfsSeed starts torfs seed on the data, with extra flags, and
// waits until it serves; with cpuprofile set, it writes a CPU profile
// there.
func startTorfsSeed(ctx context.Context, bin, torrent, save, cpuprofile string, extra ...string) (string, *exec.Cmd, func(), error) {
	args := append([]string{"seed", "--no-dht", "--data", save, "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, torrent)...)
	if cpuprofile != "" {
		cmd.Env = append(os.Environ(), "TORFS_CPUPROFILE="+cpuprofile)
	}
	addr, stop, err := harness.StartSeedCommand(cmd)
	return addr, cmd, stop, err
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func listSeconds(v []float64) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.3f", x)
	}
	return b.String()
}

func list(v []float64) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%.0f", x)
	}
	return b.String()
}

// procCPU is harness.ProcessCPU, false when /proc does not say.
func procCPU(pid int) (time.Duration, bool) {
	d, err := harness.ProcessCPU(pid)
	return d, err == nil
}
