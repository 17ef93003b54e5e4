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
	fmt.Printf("  %-10s %6.2f MB/s; link A->B %d packets, %d lost, %d tail-dropped, queue up to %d packets, queuing delay mean %v p95 %v max %v; link CPU %.1f ms/MB\n",
		who, m.mbps, s.Packets, s.Lost, s.Dropped, s.MaxQueue,
		s.MeanQueueDelay().Round(100*time.Microsecond), s.QueueDelayPercentile(0.95), s.MaxQueueDelay.Round(100*time.Microsecond),
		float64(m.cpu.Microseconds())/1e3/(float64(s.Bytes)/1e6))
}

// libtorrentGet runs a libtorrent leecher inside ns into a fresh
// directory and returns MB/s as libtorrent timed it, from adding the
// torrent to having verified all of it (harness.MeasureLibtorrentDownload,
// with the transport's settings).
func libtorrentGet(ctx context.Context, ns *netemu.Namespace, torrent, peer string, size int64, t transport) (float64, error) {
	save, err := os.MkdirTemp("", "torfs-bench-wan-lt-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(save)
	// Listening on B's side of the link, as torfs get does: uTP goes
	// out through the listening socket, and one bound to the 127.0.0.1
	// default cannot reach the seeder (TCP dials from a socket of its
	// own, so it never showed).
	opts := harness.LibtorrentOptions{
		Mode: harness.Leech, Torrent: torrent, Save: save, Peers: []string{peer},
		Listen:         netip.AddrPortFrom(netemu.AddrB, 0).String(),
		ExitOnComplete: true, Interval: time.Second, NoBlockLog: true,
	}
	t.lt(&opts)
	var leech *harness.Libtorrent
	err = ns.Do(func() error {
		var err error
		leech, err = harness.LaunchLibtorrent(ctx, opts)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer leech.Close()
	if err := leech.WaitFinished(ctx); err != nil {
		return 0, err
	}
	if got := leech.Status().TotalDone; got != size {
		return 0, fmt.Errorf("finished with %d bytes, want %d", got, size)
	}
	if leech.Elapsed() <= 0 {
		return 0, fmt.Errorf("reported no download time")
	}
	return float64(size) / 1e6 / leech.Elapsed().Seconds(), nil
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
	args := append([]string{"get", "--no-dht", "--no-port-map", "-o", out, "--listen", netip.AddrPortFrom(netemu.AddrB, 0).String(), "--peer", peer}, t.torfsArgs...)
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
