// Command netemu makes an emulated WAN for experiments by hand: two network
// namespaces joined by a netemu link, kept until Ctrl-C, when it prints the
// link's counters and removes both namespaces. Run programs on either side
// with the ip netns exec lines it prints. It needs root.
//
//	go run ./internal/netemu/cmd/netemu -delay 25ms -loss 0.005 -rate 100000000
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
	cfg := netemu.WANDefaults()
	flag.DurationVar(&cfg.Delay, "delay", cfg.Delay, "one-way delay")
	flag.Float64Var(&cfg.Loss, "loss", cfg.Loss, "random loss probability, each way")
	flag.Int64Var(&cfg.Rate, "rate", cfg.Rate, "rate in bits per second (0 = unlimited)")
	flag.IntVar(&cfg.Limit, "limit", cfg.Limit, "queue limit in packets, each way")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the loss RNG")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "netemu:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg netemu.Config) error {
	w, err := netemu.NewWAN(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("link: %s\n", cfg)
	fmt.Printf("side A, %s: ip netns exec %s COMMAND\n", netemu.AddrA, w.A.Name)
	fmt.Printf("side B, %s: ip netns exec %s COMMAND\n", netemu.AddrB, w.B.Name)
	fmt.Println("Ctrl-C to stop")
	<-ctx.Done()
	ab, ba := w.Link.Stats()
	err = w.Close()
	for _, d := range []struct {
		name string
		s    netemu.Stats
	}{{"A->B", ab}, {"B->A", ba}} {
		fmt.Printf("%s: %d packets, %d bytes delivered; %d lost, %d tail-dropped; queue up to %d packets; queuing delay mean %v, max %v\n",
			d.name, d.s.Packets, d.s.Bytes, d.s.Lost, d.s.Dropped, d.s.MaxQueue, d.s.MeanQueueDelay(), d.s.MaxQueueDelay)
	}
	return err
}
