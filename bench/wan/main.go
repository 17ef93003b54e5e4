// Command wan benchmarks torfs against libtorrent over an emulated WAN
// (internal/netemu: by default 25 ms each way, 0.5% loss, 100 Mbit/s, a
// 1000-packet queue). A libtorrent seeder in one network namespace serves
// a file; in the other, torfs get and a libtorrent leecher download it in
// turn, and the median of the pairs is printed in MB/s (10^6 bytes per
// second) with the ratio and the link's counters (losses, tail drops,
// queuing delay at the bottleneck). With -seeder torfs, torfs seed serves
// instead and torfs get downloads from it over uTP alone and over TCP
// alone in turn, to compare torfs's own uTP congestion control (LEDBAT)
// with the kernel's TCP on the same link: throughput and the queuing delay
// each adds. It needs root, for the namespaces and TUN devices. Run it
// with `make bench-wan`.
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
	tr := flag.String("transport", "tcp", "transport both leechers use: tcp or utp (-seeder libtorrent only)")
	seeder := flag.String("seeder", "libtorrent", "who seeds: libtorrent (torfs get vs a libtorrent leecher) or torfs (torfs get over uTP vs over TCP)")
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
	if *seeder != "libtorrent" && *seeder != "torfs" {
		fmt.Fprintf(os.Stderr, "bench-wan: unknown -seeder %q: want libtorrent or torfs\n", *seeder)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, def, t, *seeder == "torfs", *size, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench-wan:", err)
		os.Exit(1)
	}
}
