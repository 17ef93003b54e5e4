// Command wan benchmarks torfs against libtorrent over an emulated WAN
// (internal/netemu: by default 25 ms each way, 0.5% loss, 100 Mbit/s, a
// 1000-packet queue). A libtorrent seeder in one network namespace serves
// a file; in the other, torfs get and a libtorrent leecher download it in
// turn, and the median of the pairs is printed in MB/s (10^6 bytes per
// second) with the ratio and the link's counters (losses, tail drops,
// queuing delay at the bottleneck). It needs root, for the namespaces and
// TUN devices. Run it with `make bench-wan`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/torfs/torfs/internal/netemu"
)

func main() {
	def := netemu.WANDefaults()
	size := flag.Int64("size", 256<<20, "bytes in the benchmark file")
	runs := flag.Int("runs", 3, "pairs of runs (torfs, libtorrent), alternating; the median is reported")
	tr := flag.String("transport", "tcp", "transport both leechers use: tcp or utp")
	flag.DurationVar(&def.Delay, "delay", def.Delay, "one-way delay")
	flag.Float64Var(&def.Loss, "loss", def.Loss, "random loss probability, each way")
	flag.Int64Var(&def.Rate, "rate", def.Rate, "link rate in bits per second")
	flag.IntVar(&def.Limit, "limit", def.Limit, "queue limit in packets")
	flag.Parse()
	t, err := lookupTransport(*tr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-wan:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, def, t, *size, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench-wan:", err)
		os.Exit(1)
	}
}
