package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
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

func run(ctx context.Context, cfg netemu.Config, t transport, torfsSeed bool, size int64, runs int) error {
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
	if torfsSeed {
		fmt.Printf("link: %s; TCP congestion control %s; file: %d MiB; torfs seed to torfs get, %d pair(s) of runs (uTP, TCP), median reported\n", cfg, cc, size>>20, runs)
		return runTorfsSeed(ctx, w, bin, torrent, save, size, runs)
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
		m, err = measure(w, func() (float64, error) { return libtorrentGet(ctx, w.B, torrent, seedAddr, size, t) })
		if err != nil {
			return fmt.Errorf("libtorrent leecher: %w", err)
		}
		lt = append(lt, m)
		report("libtorrent", m)
	}
	mt, ml := median(tf), median(lt)
	fmt.Printf("over %s: torfs get %.2f MB/s, libtorrent %.2f MB/s, ratio %.2f (goal >= 1.0)\n", t.name, mt, ml, mt/ml)
	return nil
}
