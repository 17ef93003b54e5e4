// Command tracker-bench is the tracker load benchmark: it runs torfs
// tracker and opentracker side by side on loopback, announces to each
// with the same realistic random swarms over HTTP (keep-alive on and off,
// 1,000 and 100,000 info-hashes), and prints requests/s, latency
// percentiles, the tracker's own CPU time per request, its RSS, and the
// torfs/opentracker ratios. It stops by itself: every phase is bounded
// in requests and in time.
//
//	go run ./bench/tracker --torfs bin/torfs
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	torfs := flag.String("torfs", "bin/torfs", "torfs binary")
	ot := flag.String("opentracker", "opentracker", "opentracker binary")
	conns := flag.Int("conns", 32, "concurrent connections of the load generator")
	small := flag.Int("small-swarms", 1000, "info-hashes of the small swarm set")
	large := flag.Int("large-swarms", 100000, "info-hashes of the large swarm set")
	peers := flag.Int("peers", 10, "peers per swarm")
	requests := flag.Int("requests", 100000, "announces per keep-alive-on phase (the large set's fill is swarms x peers)")
	closeRequests := flag.Int("close-requests", 40000, "announces per keep-alive-off phase")
	limit := flag.Duration("phase-timeout", 3*time.Minute, "longest a phase may run")
	only := flag.String("only", "", "run only this tracker (torfs or opentracker)")
	external := flag.String("external", "", "only load the tracker already listening at HOST:PORT (random announces on the small set, keep-alive on), e.g. to profile it")
	flag.Bool("external-close", false, "with --external: a new connection per announce")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	plan := plan{
		conns: *conns, small: *small, large: *large, peers: *peers,
		requests: *requests, closeRequests: *closeRequests, phaseTimeout: *limit,
	}
	noKeepAlive := flag.Lookup("external-close").Value.(flag.Getter).Get().(bool)
	var err error
	if *external != "" {
		err = runExternal(ctx, plan, *external, !noKeepAlive)
	} else {
		err = run(ctx, plan, *torfs, *ot, *only)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracker-bench:", err)
		os.Exit(1)
	}
}
