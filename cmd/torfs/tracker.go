package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/tracker/server"
)

func trackerCommand() *command {
	return &command{
		name:    "tracker",
		summary: "run a BitTorrent tracker (HTTP and UDP)",
		usage: `Usage: torfs tracker [flags]

Runs a BitTorrent tracker: peers announce to it and get each other's
addresses. It answers HTTP announces and scrapes (BEP 3, 23, 7, 48) on
--listen and, with --udp, UDP announces (BEP 15). /metrics serves
Prometheus metrics and /stats a summary. It logs the announce URL to put
in torrents (torfs create -a URL). SIGHUP reloads --allow;
SIGINT/SIGTERM stop it gracefully.

Flags:
  --listen ADDR         HTTP address (default 127.0.0.1:6969; use :6969 to
                        serve the network)
  --udp ADDR            also serve UDP on ADDR (e.g. the same as --listen)
  --interval D          how often peers announce (default 30m)
  --min-interval D      how often they may (default half of --interval)
  --peer-timeout D      forget a peer this long after its last announce
                        (default twice --interval plus a minute)
  --numwant N           peers per answer when the client does not say (50)
  --max-numwant N       most peers a client may ask for (200)
  --store URL           swarm store: "memory" (default) or
                        redis://[user:pass@]host:port/db to let several
                        trackers behind one address share swarms
  --allow FILE          serve only the info-hashes in FILE (40 hex digits a
                        line): a private tracker; reloaded on SIGHUP
  --allow-ip-param      let the announce's ip parameter choose the address
                        other peers get. Off by default: anyone could then
                        list a stranger's address in every swarm and have
                        peers flood it. Use only on trusted networks.
  --trusted-proxy CIDR  trust X-Forwarded-For from reverse proxies in CIDR
                        (repeatable); others are taken at their TCP address

Examples:
  torfs tracker --listen :6969 --udp :6969
  torfs tracker --listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1/32
  torfs tracker --store redis://127.0.0.1:6379/0 --allow private.txt
  kill -HUP $(pidof torfs)     # after editing private.txt
`,
		run: runTracker,
	}
}

func runTracker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tracker")
	listen := fs.String("listen", "127.0.0.1:6969", "")
	udp := fs.String("udp", "", "")
	interval := fs.Duration("interval", 30*time.Minute, "")
	minInterval := fs.Duration("min-interval", 0, "")
	peerTimeout := fs.Duration("peer-timeout", 0, "")
	numWant := fs.Int("numwant", 50, "")
	maxNumWant := fs.Int("max-numwant", 200, "")
	storeURL := fs.String("store", "memory", "")
	allow := fs.String("allow", "", "")
	allowIP := fs.Bool("allow-ip-param", false, "")
	var proxies stringsFlag
	fs.Var(&proxies, "trusted-proxy", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *interval < time.Second {
		return usagef("--interval %s is too short (at least 1s)", *interval)
	}
	if *numWant < 1 || *maxNumWant < 1 {
		return usagef("--numwant and --max-numwant must be at least 1")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := server.Config{
		Interval: *interval, MinInterval: *minInterval, PeerTimeout: *peerTimeout,
		DefaultNumWant: *numWant, MaxNumWant: *maxNumWant,
		AllowIPParam: *allowIP, Logger: log,
	}
	for _, p := range proxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				prefix = netip.PrefixFrom(a, a.BitLen())
			} else {
				return usagef("--trusted-proxy %q is not a CIDR such as 10.0.0.0/8", p)
			}
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix.Masked())
	}
	if *allow != "" {
		if cfg.Allow, err = server.LoadAllowList(*allow); err != nil {
			return err
		}
	}
	timeout := *peerTimeout
	if timeout <= 0 {
		timeout = 2**interval + time.Minute
	}
	switch {
	case *storeURL == "memory" || *storeURL == "":
	case strings.HasPrefix(*storeURL, "redis://") || strings.HasPrefix(*storeURL, "rediss://"):
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		store, err := server.NewRedisStore(sctx, *storeURL, timeout)
		cancel()
		if err != nil {
			return err
		}
		defer store.Close()
		cfg.Store = store
	default:
		return usagef("--store %q: want memory or redis://host:port/db", *storeURL)
	}
	if os.Getenv("GOGC") == "" {
		// A tracker's heap is mostly long-lived swarm tables; collecting
		// at 25% growth instead of 100% keeps its resident memory close
		// to what it holds, at a small CPU cost (the tables are
		// pointer-free, so the collector has little to mark).
		debug.SetGCPercent(25)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()

	if cfg.Allow != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					if err := cfg.Allow.Reload(); err != nil {
						log.Error("allow list not reloaded; keeping the old one", "err", err)
					} else {
						log.Info("allow list reloaded", "file", *allow, "info_hashes", cfg.Allow.Len())
					}
				}
			}
		}()
	}
	return srv.ListenAndServe(ctx, *listen, *udp, func(h, u net.Addr) {
		attrs := []any{"announce", "http://" + h.String() + "/announce"}
		if u != nil {
			attrs = append(attrs, "udp", "udp://"+u.String()+"/announce")
		}
		attrs = append(attrs, "store", redactStore(*storeURL))
		if cfg.Allow != nil {
			attrs = append(attrs, "allowed", cfg.Allow.Len())
		}
		log.Info("tracker ready", attrs...)
	})
}

// redactStore hides a password in a store URL before it is logged.
func redactStore(s string) string {
	if i := strings.Index(s, "@"); i >= 0 {
		if j := strings.Index(s, "://"); j >= 0 && j < i {
			return s[:j+3] + "***" + s[i:]
		}
	}
	return s
}
