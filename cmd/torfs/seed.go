package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

func seedCommand() *command {
	return &command{
		name:    "seed",
		summary: "check existing data against a torrent and upload it to peers",
		usage: `Usage: torfs seed [flags] FILE.torrent|URL

Checks the data at PATH against the torrent's piece hashes (showing
progress), reports wrong or missing data, then uploads the good pieces to
peers until interrupted, or until --seed-ratio or --seed-time is
reached. Wrong data is never served. An http(s) URL of
a .torrent file is fetched first (within 60 s and 16 MiB).

PATH is, for a single-file torrent, the file itself or the directory that
holds it; for a multi-file torrent, the torrent's root directory or the
directory that holds it. Files are found under the names the torrent gives
them. Files are never resized or rewritten: a file whose size differs
from the torrent's is reported and left out (the pieces that touch it are
not served), and the rest is seeded. A v2-only (BEP 52) torrent whose
'piece layers' leave files out gets those hashes from the data itself:
each file must then be whole and match its pieces root.

Flags:
  --data PATH        where the data is (default: current directory)
  --peer HOST:PORT   connect to this peer (repeatable)
  --tracker URL      announce to this tracker too (repeatable)
  --listen ADDR      accept peers on ADDR (default ":0", a free port)
  --up-rate RATE     upload limit per second, e.g. 2MiB (default: none)
  --seed-ratio R     stop once R times the torrent's size is uploaded
                     (e.g. 1 or 2.5), exiting 0
  --seed-time DUR    stop after DUR (e.g. 2h), exiting 0; with --seed-ratio,
                     whichever comes first
` + encryptionFlagHelp + `  -v                 log peer and tracker events to stderr
` + utpFlagsHelp + portMapFlagsHelp + seedDHTFlagsHelp + `
Peers find us through the torrent's trackers, --tracker and the DHT
(announced every 15 minutes; never for a private torrent).

Examples:
  torfs seed --data ~/isos/ubuntu.iso ubuntu.iso.torrent
  torfs seed --data ~/datasets --listen :6881 dataset.torrent
  torfs seed --data ~/isos --seed-ratio 3 --seed-time 48h ubuntu.iso.torrent
  torfs seed --tracker http://127.0.0.1:8080/announce --data ./out photos.torrent
  torfs seed --no-dht --listen :6881 --data ./out photos.torrent
`,
		run: runSeed,
	}
}

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed")
	var sf swarmFlags
	sf.register(fs)
	data := fs.String("data", ".", "data path")
	var limits seedLimits
	limits.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one .torrent file, got %d arguments", len(pos))
	}
	cfg, err := sf.config(stderr)
	if err != nil {
		return err
	}
	cfg.DownloadRate = 0
	mi, err := loadTorrent(ctx, pos[0])
	if err != nil {
		return err
	}
	dir, err := seedDir(&mi.Info, *data)
	if err != nil {
		return err
	}
	if err := fillLayers(ctx, mi, dir, stderr); err != nil {
		return err
	}
	if err := fetch.CheckSupported(mi); err != nil {
		return err
	}
	wrong := wrongSizes(&mi.Info, dir)
	if len(wrong) > 0 {
		fmt.Fprintf(stderr, "%s the wrong size: not served, and left untouched:\n", plural.Count(len(wrong), "file has", "files have"))
		for _, w := range wrong {
			fmt.Fprintf(stderr, "  %s: %d bytes, the torrent says %d\n", w.path, w.have, w.want)
		}
		if len(wrong) == countFiles(&mi.Info) {
			return fmt.Errorf("no file of %s in %s has the size the torrent gives: this is not the torrent's data (check --data)", mi.Info.Name, dir)
		}
		// The cache would resize them: it opens, in their place, empty
		// sparse files in a tree of links to the others.
		shadow, err := os.MkdirTemp("", "torfs-seed-")
		if err != nil {
			return fmt.Errorf("setting aside the files of the wrong size: %w", err)
		}
		defer os.RemoveAll(shadow)
		if err := linkTree(&mi.Info, dir, shadow, wrong); err != nil {
			return fmt.Errorf("setting aside the files of the wrong size: %w", err)
		}
		dir = shadow
	}
	// A budget of the torrent's size keeps everything without
	// preallocating: missing files are created sparse, never filled.
	st, err := cache.Open(&mi.Info, cache.Options{Dir: dir, Budget: cache.Keep, Logger: cfg.Logger, PieceHashV2: mi.PieceHashV2})
	if err != nil {
		return fmt.Errorf("opening the data in %s: %w", dir, err)
	}
	defer st.Close()
	if err := proveWithProgress(ctx, st, stderr, "checking "+mi.Info.Name); err != nil {
		return err
	}
	good := st.Stats().Verified
	total := mi.Info.NumPieces()
	if good < total {
		fmt.Fprintf(stderr, "%d of %d pieces are missing or wrong and will not be served; affected files:\n", total-good, total)
		for _, f := range badFiles(&mi.Info, st, 10) {
			fmt.Fprintf(stderr, "  %s\n", f)
		}
	}
	if good == 0 {
		return fmt.Errorf("no piece of %s matches the data in %s: check --data", mi.Info.Name, dir)
	}
	if path := os.Getenv("TORFS_CPUPROFILE"); path != "" {
		// For bench/swarm: profile the upload path without a debug flag.
		stopProfile, err := startCPUProfile(path)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	s, err := startSwarm(ctx, cfg, mi, st, sf.options(mi))
	if err != nil {
		return err
	}
	defer s.stop()
	until := ""
	if limits.set() {
		until = " (or it stops " + limits.String() + ")"
	}
	fmt.Fprintf(stdout, "seeding %s (%d of %d pieces) on %s; press Ctrl-C to stop%s\n", mi.Info.Name, good, total, s.client.Addr(), until)
	s.seedUntil(ctx, stderr, limits, mi.Info.Length)
	return nil
}

// seedDir finds the directory the cache expects (it holds the single file,
// or the multi-file torrent's root directory) from what the user gave.
func seedDir(info *metainfo.Info, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--data: %w", err)
	}
	base := filepath.Base(filepath.Clean(path))
	if !info.MultiFile {
		if fi.Mode().IsRegular() {
			if base != info.Name {
				return "", fmt.Errorf("--data names %s but the torrent's file is called %q: rename it or pass its directory", path, info.Name)
			}
			return filepath.Dir(path), nil
		}
		if !exists(filepath.Join(path, info.Name)) {
			return "", fmt.Errorf("%s has no file named %q", path, info.Name)
		}
		return path, nil
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("--data: %s is not a directory; this torrent holds a directory named %q", path, info.Name)
	}
	if st, err := os.Stat(filepath.Join(path, info.Name)); err == nil && st.IsDir() {
		return path, nil
	}
	if base == info.Name {
		return filepath.Dir(filepath.Clean(path)), nil
	}
	return "", fmt.Errorf("cannot find the torrent's directory %q at %s: pass that directory or its parent with --data", info.Name, path)
}

// wrongFile is a file whose size differs from the torrent's.
type wrongFile struct {
	index      int // in Info.Files
	path       string
	have, want int64
}

// filePath is where the cache opening dir finds the torrent's file f.
func filePath(info *metainfo.Info, dir string, f *metainfo.File) string {
	if info.MultiFile {
		return filepath.Join(append([]string{dir, info.Name}, f.Path...)...)
	}
	return filepath.Join(dir, info.Name)
}

// wrongSizes lists the files at dir whose size differs from the
// torrent's (or that are not regular files): seeding them as they are
// would resize the user's file.
func wrongSizes(info *metainfo.Info, dir string) []wrongFile {
	var out []wrongFile
	for i := range info.Files {
		f := &info.Files[i]
		if f.Pad || f.Symlink != nil {
			continue
		}
		p := filePath(info, dir, f)
		fi, err := os.Stat(p)
		if err != nil {
			continue // missing: reported after the check, created sparse
		}
		if !fi.Mode().IsRegular() || fi.Size() != f.Length {
			out = append(out, wrongFile{index: i, path: p, have: fi.Size(), want: f.Length})
		}
	}
	return out
}

// countFiles counts the torrent's files that hold data.
func countFiles(info *metainfo.Info) int {
	n := 0
	for _, f := range info.Files {
		if !f.Pad && f.Symlink == nil {
			n++
		}
	}
	return n
}

// linkTree builds in shadow the torrent's tree as symbolic links to its
// files at dir, except the files in skip, which the cache then creates
// (sparse and empty) in shadow, leaving the user's untouched. A missing
// file's link points where it is missing, so the cache creates it there
// as it would without the links.
func linkTree(info *metainfo.Info, dir, shadow string, skip []wrongFile) error {
	skipped := make(map[int]bool, len(skip))
	for _, w := range skip {
		skipped[w.index] = true
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for i := range info.Files {
		f := &info.Files[i]
		if f.Pad || f.Symlink != nil || skipped[i] {
			continue
		}
		target, link := filePath(info, dir, f), filePath(info, shadow, f)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// badFiles lists up to limit files that contain unverified pieces.
func badFiles(info *metainfo.Info, st *cache.Cache, limit int) []string {
	var out []string
	for _, f := range info.Files {
		if f.Pad || f.Length == 0 {
			continue
		}
		if st.VerifiedBytes(f.Offset, f.Length) < f.Length {
			if len(out) == limit {
				out = append(out, "...")
				break
			}
			out = append(out, strings.Join(f.Path, "/"))
		}
	}
	return out
}
