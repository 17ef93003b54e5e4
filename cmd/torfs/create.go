package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/torfs/torfs/internal/atomicfile"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/metainfo"
)

func createCommand() *command {
	return &command{
		name:    "create",
		summary: "make a .torrent file from a file or directory",
		usage: `Usage: torfs create [-o OUT] [-a URL]... [-l PIECE_LENGTH] [--private]
                    [-w URL]... [-c COMMENT] [-f] [--v2 | --hybrid] PATH

Hashes PATH (a file or a directory) on all cores and writes a .torrent
file. A directory's files are ordered by the bytes of their paths and
hidden files are included, as mktorrent does, so both tools give the same
info-hash for the same data and piece length. Symbolic links are followed
(the torrent holds what they point to); a dangling link or a link back
into a parent directory is an error. FIFOs, sockets and devices are
skipped. Prints the output path and the info-hash.

--v2 makes a BitTorrent v2 torrent (BEP 52: each file hashed as a SHA-256
merkle tree of 16 KiB blocks), --hybrid one that v1 and v2 clients both
use (the v1 files padded so that each starts a piece). Both write what
libtorrent's create_torrent writes for the same files and piece length,
so the info-hashes match: files in path order compared component by
component, attribute "x" for executable files, pad files ".pad/N".

Flags:
  -o OUT             where to write the torrent (default NAME.torrent in the
                     current directory, NAME being PATH's base name)
  -a URL             tracker announce URL; repeat for backup trackers, each
                     -a being a tier of its own (BEP 12)
  -l PIECE_LENGTH    piece length, a power of two from 16KiB to 512MiB, with
                     or without a unit (256KiB, 1MiB, 4194304); default:
                     chosen from the total size for about 1000-2000 pieces
  --private          set the private flag (BEP 27): peers only via trackers
  -w URL             web seed URL (BEP 19); repeatable
  -c COMMENT         free-text comment
  -f                 overwrite OUT if it exists
  --v2               make a v2-only torrent (BEP 52)
  --hybrid           make a hybrid v1 + v2 torrent

Examples:
  torfs create -a http://tracker.example:6969/announce ~/videos/talk.mkv
  torfs create -o dataset.torrent -l 4MiB --private \
      -a http://t1.example/announce -a udp://t2.example:6969 ./dataset
  torfs create -w https://mirror.example/pub/ -c "release 1.0" release-1.0/
  torfs create --hybrid -l 1MiB ./dataset
`,
		run: runCreate,
	}
}

func runCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("create")
	out := fs.String("o", "", "output file")
	var trackers, seeds stringsFlag
	fs.Var(&trackers, "a", "tracker URL")
	fs.Var(&seeds, "w", "web seed URL")
	plen := fs.String("l", "", "piece length")
	private := fs.Bool("private", false, "private torrent")
	comment := fs.String("c", "", "comment")
	force := fs.Bool("f", false, "overwrite")
	v2 := fs.Bool("v2", false, "v2-only torrent")
	hybrid := fs.Bool("hybrid", false, "hybrid torrent")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one PATH (a file or directory), got %d arguments", len(pos))
	}
	var pieceLen int64
	if *plen != "" {
		if pieceLen, err = parseSize(*plen); err != nil {
			return usagef("-l: %v", err)
		}
		if pieceLen < 16<<10 || pieceLen > metainfo.MaxPieceLength || pieceLen&(pieceLen-1) != 0 {
			return usagef("-l %s: the piece length must be a power of two from 16KiB to 512MiB", *plen)
		}
	}
	for _, u := range trackers {
		if !hasScheme(u, "http", "https", "udp") {
			return usagef("-a %q: want a tracker URL starting with http://, https:// or udp://", u)
		}
	}
	for _, u := range seeds {
		if !hasScheme(u, "http", "https") {
			return usagef("-w %q: want a web seed URL starting with http:// or https://", u)
		}
	}
	root := pos[0]
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("cannot read %s: %w", root, errors.Unwrap(err))
	}
	dest := *out
	if dest == "" {
		abs, err := filepath.Abs(root)
		if err != nil {
			return err
		}
		dest = filepath.Base(abs) + ".torrent"
	}
	if !*force {
		if _, err := os.Lstat(dest); err == nil {
			return fmt.Errorf("%s already exists (use -f to overwrite, or -o to choose another name)", dest)
		}
	}
	version := metainfo.V1
	switch {
	case *v2 && *hybrid:
		return usagef("--v2 and --hybrid exclude each other: a hybrid torrent is v2 too")
	case *v2:
		version = metainfo.V2
	case *hybrid:
		version = metainfo.Hybrid
	}
	var tiers [][]string
	for _, t := range trackers {
		tiers = append(tiers, []string{t})
	}
	var bar *progressBar
	mi, err := metainfo.Create(ctx, root, metainfo.CreateOptions{
		PieceLength: pieceLen, Trackers: tiers, WebSeeds: seeds, Comment: *comment, Private: *private,
		Version: version,
		Progress: func(done, total int64) {
			if bar == nil {
				bar = newProgressBar(stderr, "hashing", total)
			}
			bar.Update(done, total)
		},
	})
	if bar != nil {
		bar.Finish()
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted; no torrent written")
	}
	if err != nil {
		return err
	}
	data, err := mi.Encode()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(dest, data, 0o644); err != nil {
		return fmt.Errorf("write torrent: %w", err)
	}
	size := mi.Info.Length // without a v2 or hybrid torrent's pad files
	for _, f := range mi.Info.Files {
		if f.Pad {
			size -= f.Length
		}
	}
	fmt.Fprintf(stdout, "Wrote %s (%s in %d pieces of %s)\n", dest, bytesize.Format(size), mi.Info.NumPieces(), bytesize.Format(mi.Info.PieceLength))
	if mi.HasV1() {
		fmt.Fprintf(stdout, "Info-hash: %s\n", mi.InfoHash)
	}
	if mi.HasV2() {
		fmt.Fprintf(stdout, "Info-hash v2: %s\n", mi.InfoHashV2)
	}
	return nil
}

// hasScheme reports whether s is an absolute URL with a host and one of
// the schemes.
func hasScheme(s string, schemes ...string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && slices.Contains(schemes, strings.ToLower(u.Scheme))
}
