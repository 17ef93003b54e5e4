package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/netemu"
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
			addr, stop, err := startTorfsSeed(ctx, w.A, bin, torrent, save, s.t.torfsArgs...)
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
// side of the link, with extra flags, and waits until it serves. stop
// interrupts it and waits for it to exit.
func startTorfsSeed(ctx context.Context, ns *netemu.Namespace, bin, torrent, save string, extra ...string) (addr string, stop func(), err error) {
	args := append([]string{"seed", "--no-dht", "--no-port-map", "--data", save,
		"--listen", netip.AddrPortFrom(netemu.AddrA, 0).String()}, extra...)
	cmd := ns.Command(ctx, bin, append(args, torrent)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	addr, stop, err = harness.StartSeedCommand(cmd)
	if err != nil {
		return "", nil, fmt.Errorf("in namespace %s: %w", ns.Name, err)
	}
	return addr, stop, nil
}
