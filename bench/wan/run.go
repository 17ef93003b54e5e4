package main

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/netemu"
)

// measurement is one download: MB/s, what the link did meanwhile in the
// direction that carried the data (seeder to leecher), and the CPU time
// this process (the link, mostly) spent.
type measurement struct {
	mbps float64
	link netemu.Stats
	cpu  time.Duration
}

func run(ctx context.Context, cfg netemu.Config, t transport, size int64, runs int) error {
	if t.unavailable != "" {
		fmt.Printf("%s: %s\n", t.name, t.unavailable)
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root to create network namespaces and TUN devices")
	}
	dir, err := os.MkdirTemp("", "torfs-bench-wan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := harness.BuildTorfsIn(ctx, dir)
	if err != nil {
		return err
	}
	torrent, save, err := harness.PrepareBenchTorrent(ctx, dir, size, 0)
	if err != nil {
		return err
	}
	w, err := netemu.NewWAN(ctx, cfg)
	if err != nil {
		return err
	}
	defer w.Close()
	// The sender's congestion control decides how TCP takes random loss:
	// BBR (this machine's default) hardly slows down for it, CUBIC does.
	// A namespace may only choose among net.ipv4.tcp_allowed_congestion_control,
	// a setting of the host's, so it is reported, not set.
	cc, err := getSysctl(w.A, tcpCC)
	if err != nil {
		return err
	}
	fmt.Printf("link: %s; TCP congestion control %s; file: %d MiB; %d pair(s) of runs over %s, median reported\n", cfg, cc, size>>20, runs, t.name)

	// The seeder lives in A, the leechers in B: data flows A->B.
	var seed *harness.Libtorrent
	err = w.A.Do(func() error {
		opts := harness.LibtorrentOptions{
			Mode: harness.Seed, Torrent: torrent, Save: save, SeedMode: true, NoBlockLog: true,
			Interval: time.Second, Listen: netip.AddrPortFrom(netemu.AddrA, 0).String(),
		}
		t.lt(&opts)
		var err error
		seed, err = harness.LaunchLibtorrent(ctx, opts)
		return err
	})
	if err != nil {
		return fmt.Errorf("libtorrent seeder in namespace A: %w", err)
	}
	defer seed.Close()
	seedAddr := netip.AddrPortFrom(netemu.AddrA, uint16(seed.Port())).String()

	var tf, lt []measurement
	for range runs {
		m, err := measure(w, func() (float64, error) { return torfsGet(ctx, w.B, bin, torrent, seedAddr, size, t) })
		if err != nil {
			return fmt.Errorf("torfs get: %w", err)
		}
		tf = append(tf, m)
		report("torfs get", m)
		m, err = measure(w, func() (float64, error) {
			var v float64
			err := w.B.Do(func() error {
				var err error
				v, err = harness.MeasureLibtorrentDownload(ctx, torrent, []string{seedAddr}, size)
				return err
			})
			return v, err
		})
		if err != nil {
			return fmt.Errorf("libtorrent leecher: %w", err)
		}
		lt = append(lt, m)
		report("libtorrent", m)
	}
	mt, ml := median(tf), median(lt)
	fmt.Printf("over %s: torfs get %.2f MB/s, libtorrent %.2f MB/s, ratio %.2f (goal >= 1.0)\n", t.name, mt, ml, mt/ml)
	if t.name != "uTP" {
		fmt.Println("uTP: not yet available")
	}
	return nil
}

// measure runs one download with the link's counters reset before it.
func measure(w *netemu.WAN, download func() (float64, error)) (measurement, error) {
	w.Link.ResetStats()
	before := selfCPU()
	v, err := download()
	ab, _ := w.Link.Stats()
	return measurement{mbps: v, link: ab, cpu: selfCPU() - before}, err
}

// selfCPU is the CPU time this process has used, children not included.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(who string, m measurement) {
	s := m.link
	fmt.Printf("  %-10s %6.2f MB/s; link A->B %d packets, %d lost, %d tail-dropped, queue up to %d packets, queuing delay mean %v max %v; link CPU %.1f ms/MB\n",
		who, m.mbps, s.Packets, s.Lost, s.Dropped, s.MaxQueue,
		s.MeanQueueDelay().Round(100*time.Microsecond), s.MaxQueueDelay.Round(100*time.Microsecond),
		float64(m.cpu.Microseconds())/1e3/(float64(s.Bytes)/1e6))
}

// torfsGet runs torfs get inside ns into a fresh directory and returns
// MB/s from starting it to its report that every piece is verified (the
// moment libtorrent's own timing ends too).
func torfsGet(ctx context.Context, ns *netemu.Namespace, bin, torrent, peer string, size int64, t transport) (float64, error) {
	out, err := os.MkdirTemp("", "torfs-bench-wan-get-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(out)
	args := append([]string{"get", "--no-dht", "-o", out, "--listen", netip.AddrPortFrom(netemu.AddrB, 0).String(), "--peer", peer}, t.torfsArgs...)
	cmd := ns.Command(ctx, bin, append(args, torrent)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var completed time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "downloaded ") && completed == 0 {
			completed = time.Since(start)
		}
	}
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("%v\n%s", err, stderr.String())
	}
	fi, err := os.Stat(filepath.Join(out, "bench.bin"))
	if err != nil || fi.Size() != size || completed == 0 {
		return 0, fmt.Errorf("did not complete the file: %v\n%s", err, stderr.String())
	}
	return float64(size) / 1e6 / completed.Seconds(), nil
}

func median(ms []measurement) float64 {
	v := make([]float64, len(ms))
	for i, m := range ms {
		v[i] = m.mbps
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// tcpCC is the sysctl that holds a namespace's TCP congestion control.
const tcpCC = "/proc/sys/net/ipv4/tcp_congestion_control"

// getSysctl reads a per-namespace sysctl of ns: a file under
// /proc/sys/net opened from ns's thread belongs to ns.
func getSysctl(ns *netemu.Namespace, path string) (string, error) {
	var v []byte
	err := ns.Do(func() error {
		var err error
		v, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("read %s in namespace %s: %w", path, ns.Name, err)
	}
	return strings.TrimSpace(string(v)), nil
}
