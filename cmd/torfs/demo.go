package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/torfs/torfs/internal/demo"
)

func demoCommand() *command {
	return &command{
		name:    "demo",
		summary: "mount a sample torrent served on loopback (no network needed)",
		usage: `Usage: torfs demo [flags] [MOUNTPOINT]

Shows torfs at work with nothing but this binary: generates sample files
(one of them a large "film" to stream), creates their torrent, starts a
tracker and a seeder on loopback, and mounts the torrent with a separate
client on MOUNTPOINT (a temporary directory by default). It prints what to
try; Ctrl-C unmounts and removes everything it made.

Flags:
  --check        read every file through the mount, compare it with the
                 source, print the result and exit (0 when identical)
  --film SIZE    size of the large file (default 128MiB)
  -v             log tracker, seeder and mount events to stderr

Examples:
  torfs demo
  torfs demo /mnt/demo
  torfs demo --check
`,
		run: runDemo,
	}
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("demo")
	checkOnly := fl.Bool("check", false, "check and exit")
	film := fl.String("film", "128MiB", "film size")
	verbose := fl.Bool("v", false, "verbose")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("want at most one mountpoint, got %d arguments", len(pos))
	}
	size, err := parseSize(*film)
	if err != nil || size <= 0 {
		return usagef("--film: want a positive size such as 64MiB, got %q", *film)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := demo.Config{
		FilmSize: size, Check: *checkOnly, Out: stdout,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if len(pos) == 1 {
		cfg.Mountpoint = pos[0]
		if err := os.MkdirAll(pos[0], 0o755); err != nil {
			return err
		}
	}
	return demo.Run(ctx, cfg)
}
