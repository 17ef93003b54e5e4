package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// LaunchSeeders starts n libtorrent seeders of torrent whose data is in
// save (libtorrent's save_path), in seed mode (data trusted, not checked:
// benchmarks create it themselves). The caller closes them.
func LaunchSeeders(ctx context.Context, torrent, save string, n int) ([]*Libtorrent, error) {
	return launchSeeders(ctx, torrent, save, n, false)
}

// LaunchEncryptedSeeders is LaunchSeeders with seeders that speak only
// MSE/PE with RC4 (LibtorrentOptions.ForceEncryption).
func LaunchEncryptedSeeders(ctx context.Context, torrent, save string, n int) ([]*Libtorrent, error) {
	return launchSeeders(ctx, torrent, save, n, true)
}

func launchSeeders(ctx context.Context, torrent, save string, n int, encrypted bool) ([]*Libtorrent, error) {
	var seeds []*Libtorrent
	for range n {
		s, err := LaunchLibtorrent(ctx, LibtorrentOptions{
			Mode: Seed, Torrent: torrent, Save: save, SeedMode: true, NoBlockLog: true, Interval: time.Second,
			ForceEncryption: encrypted,
		})
		if err != nil {
			for _, s := range seeds {
				_ = s.Close()
			}
			return nil, err
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}

// MeasureLibtorrentDownload is the reference the swarm benchmarks compare
// torfs with: a fresh libtorrent leecher downloads torrent (size bytes)
// from seeders (HOST:PORT each) into a temp dir, and the result is MB/s
// (10^6 bytes per second) from adding the torrent to having verified all of
// it, as libtorrent itself timed it (the interpreter's start-up is not
// counted). The downloaded data is removed afterwards.
func MeasureLibtorrentDownload(ctx context.Context, torrent string, seeders []string, size int64) (float64, error) {
	return measureLibtorrentDownload(ctx, torrent, seeders, size, false)
}

// MeasureEncryptedLibtorrentDownload is MeasureLibtorrentDownload with a
// leecher that speaks only MSE/PE with RC4.
func MeasureEncryptedLibtorrentDownload(ctx context.Context, torrent string, seeders []string, size int64) (float64, error) {
	return measureLibtorrentDownload(ctx, torrent, seeders, size, true)
}

func measureLibtorrentDownload(ctx context.Context, torrent string, seeders []string, size int64, encrypted bool) (float64, error) {
	if len(seeders) == 0 {
		return 0, fmt.Errorf("measure libtorrent download: no seeders")
	}
	save, err := os.MkdirTemp("", "torfs-lt-leech-")
	if err != nil {
		return 0, fmt.Errorf("measure libtorrent download: %w", err)
	}
	defer os.RemoveAll(save)
	leech, err := LaunchLibtorrent(ctx, LibtorrentOptions{
		Mode: Leech, Torrent: torrent, Save: save, Peers: seeders,
		ExitOnComplete: true, Interval: time.Second, NoBlockLog: true, ForceEncryption: encrypted,
	})
	if err != nil {
		return 0, err
	}
	defer leech.Close()
	if err := leech.WaitFinished(ctx); err != nil {
		return 0, err
	}
	if got := leech.Status().TotalDone; got != size {
		return 0, fmt.Errorf("libtorrent leecher finished with %d bytes, want %d", got, size)
	}
	elapsed := leech.Elapsed()
	if elapsed <= 0 {
		return 0, fmt.Errorf("libtorrent leecher reported no download time")
	}
	return float64(size) / elapsed.Seconds() / 1e6, nil
}

// PrepareBenchTorrent writes size pseudo-random bytes to dir/data/bench.bin
// and its torrent (mktorrent, pieceLength; 0 = 256 KiB, no tracker) to
// dir/bench.torrent. Seeders take dir/data as their save path.
func PrepareBenchTorrent(ctx context.Context, dir string, size, pieceLength int64) (torrent, save string, err error) {
	save = filepath.Join(dir, "data")
	if err := WriteRandomFile(filepath.Join(save, "bench.bin"), size, 1); err != nil {
		return "", "", err
	}
	torrent = filepath.Join(dir, "bench.torrent")
	if err := CreateTorrent(ctx, filepath.Join(save, "bench.bin"), torrent, TorrentOptions{PieceLength: pieceLength}); err != nil {
		return "", "", err
	}
	return torrent, save, nil
}

// StartSeedCommand starts cmd, a prepared `torfs seed` (for a benchmark,
// outside any test), and waits for the line saying where it serves, which
// it returns. stop interrupts the seed and waits up to 10 s for it to
// exit, then kills it. A cmd.Stderr set by the caller still gets the
// seed's stderr.
func StartSeedCommand(cmd *exec.Cmd) (addr string, stop func(), err error) {
	var stderr strings.Builder
	if cmd.Stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, cmd.Stderr)
	} else {
		cmd.Stderr = &stderr
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		// "seeding NAME (N of M pieces) on ADDR; press Ctrl-C to stop"
		line := sc.Text()
		if i := strings.Index(line, " on "); strings.HasPrefix(line, "seeding ") && i > 0 {
			addr, _, _ = strings.Cut(line[i+4:], ";")
			go func() {
				for sc.Scan() {
				}
			}()
			return addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("torfs seed did not start:\n%s", stderr.String())
}
