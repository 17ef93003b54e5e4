// Command create measures torrent creation throughput of `torfs create`
// next to mktorrent on the same file, in the same run, with the same
// piece length and both tools using every core, and prints GB/s for each
// and their ratio. Run it with `make bench-create`.
//
// The file lives in a temporary directory and is read once before every
// timed run, so both tools hash from a warm page cache and the figure is
// hashing speed, not disk speed. Runs alternate between the tools so that
// background load hits both alike; the best run of each counts. The CPU
// time (user+system) of each run is printed too: on a busy machine it is
// a steadier comparison than wall-clock time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes in the test file")
	piece := flag.Int64("piece", 1<<20, "piece length in bytes (a power of two)")
	rounds := flag.Int("rounds", 5, "timed runs per tool")
	torfs := flag.String("torfs", "bin/torfs", "torfs binary to measure")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *torfs, *size, *piece, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench-create:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, torfs string, size, piece int64, rounds int) error {
	if piece <= 0 || piece&(piece-1) != 0 {
		return fmt.Errorf("-piece %d is not a power of two", piece)
	}
	if _, err := exec.LookPath("mktorrent"); err != nil {
		return errors.New("mktorrent is missing: bash scripts/deps.sh")
	}
	dir, err := os.MkdirTemp("", "torfs-bench-create-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data.bin")
	fmt.Printf("writing %d MiB of random data to %s\n", size>>20, data)
	if err := harness.WriteRandomFile(data, size, 1); err != nil {
		return err
	}
	cores := runtime.NumCPU()
	log2 := bits.TrailingZeros64(uint64(piece))
	tools := []struct {
		name string
		args []string
		out  string
	}{
		{"mktorrent", []string{"mktorrent", "-t", strconv.Itoa(cores), "-l", strconv.Itoa(log2), "-a", "http://127.0.0.1/announce", "-o", filepath.Join(dir, "mk.torrent"), data}, filepath.Join(dir, "mk.torrent")},
		{"torfs", []string{torfs, "create", "-f", "-l", strconv.FormatInt(piece, 10), "-a", "http://127.0.0.1/announce", "-o", filepath.Join(dir, "tf.torrent"), data}, filepath.Join(dir, "tf.torrent")},
	}
	best := make([]time.Duration, len(tools))
	bestCPU := make([]time.Duration, len(tools))
	for r := range rounds {
		for i, tool := range tools {
			os.Remove(tool.out)
			if err := warm(data); err != nil {
				return err
			}
			start := time.Now()
			cmd := exec.CommandContext(ctx, tool.args[0], tool.args[1:]...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w\n%s", tool.name, err, out)
			}
			d := time.Since(start)
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			fmt.Printf("round %d  %-9s %6.3f s  %5.2f GB/s  cpu %5.3f s\n", r+1, tool.name, d.Seconds(), gbps(size, d), cpu.Seconds())
			if best[i] == 0 || d < best[i] {
				best[i] = d
			}
			if bestCPU[i] == 0 || cpu < bestCPU[i] {
				bestCPU[i] = cpu
			}
		}
	}
	a, err := metainfo.Load(tools[0].out)
	if err != nil {
		return err
	}
	b, err := metainfo.Load(tools[1].out)
	if err != nil {
		return err
	}
	if a.InfoHash != b.InfoHash {
		return fmt.Errorf("info-hashes differ: mktorrent %s, torfs %s", a.InfoHash, b.InfoHash)
	}
	mk, tf := gbps(size, best[0]), gbps(size, best[1])
	fmt.Printf("\n%d MiB, piece length %d KiB, %d cores, best of %d (same info-hash %s)\n", size>>20, piece>>10, cores, rounds, a.InfoHash)
	fmt.Printf("mktorrent %.2f GB/s  (cpu %.3f s)\n", mk, bestCPU[0].Seconds())
	fmt.Printf("torfs     %.2f GB/s  (cpu %.3f s)\n", tf, bestCPU[1].Seconds())
	fmt.Printf("ratio torfs/mktorrent %.2fx wall-clock throughput, %.2fx cpu efficiency\n", tf/mk, bestCPU[0].Seconds()/bestCPU[1].Seconds())
	return nil
}

// warm reads the file so that it is in the page cache for the next run.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func gbps(n int64, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e9 }
