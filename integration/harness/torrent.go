package harness

import (
	"context"
	"crypto/sha1"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zeebo/bencode"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/torfs/torfs/metainfo"
)

// TorrentOptions configures MakeTorrent.
type TorrentOptions struct {
	// PieceLength is a power of two from 32 KiB to 256 MiB; 0 = 256 KiB.
	PieceLength int64
	// Trackers are announce URLs, one per tier.
	Trackers []string
	Private  bool
	// Name overrides the info name (default: the base name of the path).
	Name string
}

// MakeTorrent creates a .torrent for the file or directory at path with
// mktorrent (a real, independent tool) and returns the .torrent's path in
// a temp dir.
func MakeTorrent(tb testing.TB, path string, opts TorrentOptions) string {
	tb.Helper()
	Require(tb, "mktorrent")
	out := filepath.Join(tb.TempDir(), filepath.Base(path)+".torrent")
	ctx, cancel := context.WithTimeout(context.Background(), 5*startTimeout)
	defer cancel()
	if err := CreateTorrent(ctx, path, out, opts); err != nil {
		tb.Fatal(err)
	}
	return out
}

// CreateTorrent is MakeTorrent for programs without a testing.TB: it
// writes the .torrent for path to out.
func CreateTorrent(ctx context.Context, path, out string, opts TorrentOptions) error {
	pl := opts.PieceLength
	if pl == 0 {
		pl = 256 << 10
	}
	if pl < 32<<10 || pl > 256<<20 || pl&(pl-1) != 0 {
		return fmt.Errorf("piece length %d: mktorrent takes a power of two from 32 KiB to 256 MiB", pl)
	}
	args := []string{"-l", strconv.Itoa(bits.TrailingZeros64(uint64(pl))), "-o", out}
	for _, t := range opts.Trackers {
		args = append(args, "-a", t)
	}
	if opts.Private {
		args = append(args, "-p")
	}
	if opts.Name != "" {
		args = append(args, "-n", opts.Name)
	}
	args = append(args, path)
	// mktorrent refuses to overwrite.
	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("replace %s: %w", out, err)
	}
	if msg, err := exec.CommandContext(ctx, "mktorrent", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("mktorrent %v: %w\n%s", args, err, msg)
	}
	return nil
}

// InfoHash returns the info-hash of the .torrent at path: the SHA-1 of its
// info dictionary's bytes exactly as stored.
func InfoHash(tb testing.TB, path string) metainfo.Hash {
	tb.Helper()
	h, err := ReadInfoHash(path)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// ReadInfoHash is InfoHash for programs without a testing.TB.
func ReadInfoHash(path string) (metainfo.Hash, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return metainfo.Hash{}, fmt.Errorf("info-hash: %w", err)
	}
	var t struct {
		Info bencode.RawMessage `bencode:"info"`
	}
	if _, err := bencbound.DecodeDict(data, &t); err != nil {
		return metainfo.Hash{}, fmt.Errorf("info-hash of %s: %w", path, err)
	}
	if len(t.Info) == 0 {
		return metainfo.Hash{}, fmt.Errorf("info-hash of %s: no info dictionary", path)
	}
	return metainfo.Hash(sha1.Sum(t.Info)), nil
}
