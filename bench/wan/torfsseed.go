package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/netemu"
	"github.com/torfs/torfs/internal/testutil"
)

// runTorfsSeed measures torfs get in B from torfs seed in A, both over uTP
// alone (--no-tcp) and then both over TCP alone (--no-utp), the pairs
// alternating which goes first, and prints each transport's median MB/s,
// the ratio and the queuing delay each put on the bottleneck.
func runTorfsSeed(ctx context.Context, w *netemu.WAN, bin, torrent, save string, size int64, runs int) error {
	type side struct {
		name string
		t    transport
		ms   []measurement
	}
	utp, err := lookupTransport("utp")
	if err != nil {
		return err
	}
	utp.torfsArgs = []string{"--no-tcp"}
	tcp, err := lookupTransport("tcp")
	if err != nil {
		return err
	}
	sides := []*side{{name: "uTP", t: utp}, {name: "TCP", t: tcp}}
	for r := range runs {
		for k := range sides {
			s := sides[(k+r)%len(sides)]
			// -v: the seed logs each uTP connection's counters as it
			// ends (utp.Stats), the sender's side of the transfer.
			var log testutil.Buffer
			addr, stop, err := startTorfsSeed(ctx, w.A, bin, torrent, save, &log, append([]string{"-v"}, s.t.torfsArgs...)...)
			if err != nil {
				return err
			}
			m, err := measure(w, func() (float64, error) { return torfsGet(ctx, w.B, bin, torrent, addr, size, s.t) })
			stop()
			if err != nil {
				return fmt.Errorf("torfs get over %s from torfs seed: %w", s.name, err)
			}
			s.ms = append(s.ms, m)
			report("over "+s.name, m)
			for _, st := range utpStats(log.String()) {
				fmt.Printf("    seeder's uTP connection: %s\n", st)
			}
		}
	}
	u, t := sides[0].ms, sides[1].ms
	fmt.Printf("torfs get from torfs seed: uTP %.2f MB/s, TCP %.2f MB/s, ratio %.2f (goal >= 0.8)\n", median(u), median(t), median(u)/median(t))
	fmt.Printf("  queuing delay at the bottleneck (medians of the runs): uTP mean %v p95 %v; TCP mean %v p95 %v\n",
		medianDelay(u, meanDelay), medianDelay(u, p95Delay), medianDelay(t, meanDelay), medianDelay(t, p95Delay))
	return nil
}

func meanDelay(s netemu.Stats) time.Duration { return s.MeanQueueDelay() }
func p95Delay(s netemu.Stats) time.Duration  { return s.QueueDelayPercentile(0.95) }

func medianDelay(ms []measurement, f func(netemu.Stats) time.Duration) time.Duration {
	v := make([]time.Duration, len(ms))
	for i, m := range ms {
		v[i] = f(m.link)
	}
	slices.Sort(v)
	return v[len(v)/2].Round(100 * time.Microsecond)
}

// startTorfsSeed starts torfs seed on the data inside ns, listening on A's
// side of the link, with extra flags and its stderr to stderr, and waits
// until it serves. stop
// interrupts it and waits for it to exit.
func startTorfsSeed(ctx context.Context, ns *netemu.Namespace, bin, torrent, save string, stderr io.Writer, extra ...string) (addr string, stop func(), err error) {
	args := append([]string{"seed", "--no-dht", "--no-port-map", "--data", save,
		"--listen", netip.AddrPortFrom(netemu.AddrA, 0).String()}, extra...)
	cmd := ns.Command(ctx, bin, append(args, torrent)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = stderr
	addr, stop, err = harness.StartSeedCommand(cmd)
	if err != nil {
		return "", nil, fmt.Errorf("in namespace %s: %w", ns.Name, err)
	}
	return addr, stop, nil
}

// utpStats picks the counters out of the "utp connection closed" lines of
// a torfs -v log: the stats.* attributes, without their prefix.
func utpStats(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if !strings.Contains(line, `msg="utp connection closed"`) {
			continue
		}
		var kv []string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "stats."); ok {
				kv = append(kv, v)
			}
		}
		out = append(out, strings.Join(kv, " "))
	}
	return out
}
