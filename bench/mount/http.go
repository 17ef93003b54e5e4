package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// stream is the file under test read one way: through a mount or over
// torfs serve's HTTP.
type stream struct {
	readAt  func(b []byte, off int64) error
	readAll func(ctx context.Context) (float64, error) // MB/s
	stop    func()
}

// streamFigures are one fresh start's figures.
type streamFigures struct {
	ttfb time.Duration // start to the first 64 KiB at offset 0
	seek time.Duration // p50 of 64 KiB reads at unfetched offsets
	cold float64       // MB/s of the whole file, after the seeks
}

// measureStream starts a stream with open and takes its figures.
func measureStream(ctx context.Context, open func() (*stream, error), size int64, seeks int) (streamFigures, error) {
	var fig streamFigures
	start := time.Now()
	s, err := open()
	if err != nil {
		return fig, err
	}
	defer s.stop()
	buf := make([]byte, 64<<10)
	if err := s.readAt(buf, 0); err != nil {
		return fig, fmt.Errorf("first read: %w", err)
	}
	fig.ttfb = time.Since(start)
	var lat []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	segment := size / int64(seeks)
	for i := range seeks {
		off := int64(i)*segment + rng.Int64N(segment/2)
		off -= off % (64 << 10)
		t := time.Now()
		if err := s.readAt(buf, off); err != nil {
			return fig, fmt.Errorf("seek read at %d: %w", off, err)
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	fig.seek = lat[len(lat)/2]
	fig.cold, err = s.readAll(ctx)
	return fig, err
}

// mountStream is the file through a fresh torfs mount, read with dd.
func mountStream(ctx context.Context, bin, dir, torrent, seed string, size int64) func() (*stream, error) {
	return func() (*stream, error) {
		m, err := startMount(ctx, bin, dir, torrent, seed)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(m.dir, "bench.bin")
		f, err := os.Open(path)
		if err != nil {
			m.stop()
			return nil, err
		}
		return &stream{
			readAt:  func(b []byte, off int64) error { _, err := f.ReadAt(b, off); return err },
			readAll: func(ctx context.Context) (float64, error) { return ddRate(ctx, path, size) },
			stop:    func() { f.Close(); m.stop() },
		}, nil
	}
}

// httpStream is the file over a fresh torfs serve: range requests, and
// one GET of the whole file.
func httpStream(ctx context.Context, bin, dir, torrent, seed string, size int64) func() (*stream, error) {
	return func() (*stream, error) {
		h, err := harness.ReadInfoHash(torrent)
		if err != nil {
			return nil, err
		}
		cache, err := os.MkdirTemp(dir, "cache-")
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--no-dht", "--peer", seed, "--listen", "127.0.0.1:0",
			"--cache-dir", cache, "--cache-size", "unlimited", "--http", "127.0.0.1:0"}, append(strings.Fields(mountFlags), torrent)...)...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			_ = os.RemoveAll(cache)
		}
		base := ""
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// serving NAME at http://127.0.0.1:PORT/ (...
			if _, rest, ok := strings.Cut(sc.Text(), " at http://"); ok && strings.HasPrefix(sc.Text(), "serving ") {
				base = "http://" + strings.Fields(rest)[0]
				go func() {
					for sc.Scan() {
					}
				}()
				break
			}
		}
		if base == "" {
			stop()
			return nil, fmt.Errorf("torfs serve did not start:\n%s", stderr.String())
		}
		url := strings.TrimSuffix(base, "/") + "/t/" + h.String() + "/bench.bin"
		get := func(ctx context.Context, rng string) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return nil, err
			}
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil && resp.StatusCode/100 != 2 {
				resp.Body.Close()
				return nil, fmt.Errorf("GET %s %s: %s", url, rng, resp.Status)
			}
			return resp, err
		}
		return &stream{
			readAt: func(b []byte, off int64) error {
				resp, err := get(ctx, fmt.Sprintf("bytes=%d-%d", off, off+int64(len(b))-1))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.ReadFull(resp.Body, b)
				return err
			},
			readAll: func(ctx context.Context) (float64, error) {
				start := time.Now()
				resp, err := get(ctx, "")
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 1<<20))
				if err == nil && n != size {
					err = fmt.Errorf("GET %s: %d bytes, want %d", url, n, size)
				}
				return float64(size) / time.Since(start).Seconds() / 1e6, err
			},
			stop: stop,
		}, nil
	}
}

// httpRuns compares torfs serve over HTTP with torfs mount, each started
// fresh runs times in alternating order: time to first 64 KiB, seek
// p50 and the cold read rate that follows, as medians and ratios.
func httpRuns(ctx context.Context, bin, dir, torrent, seed string, size int64, seeks, runs int) error {
	var over, through []streamFigures
	for run := range runs {
		for k := range 2 {
			if (k+run)%2 == 0 {
				fig, err := measureStream(ctx, httpStream(ctx, bin, dir, torrent, seed, size), size, seeks)
				if err != nil {
					return fmt.Errorf("over HTTP: %w", err)
				}
				over = append(over, fig)
			} else {
				fig, err := measureStream(ctx, mountStream(ctx, bin, dir, torrent, seed, size), size, seeks)
				if err != nil {
					return fmt.Errorf("through the mount: %w", err)
				}
				through = append(through, fig)
			}
		}
	}
	med := func(v []streamFigures, f func(streamFigures) float64) float64 {
		var x []float64
		for _, s := range v {
			x = append(x, f(s))
		}
		return median(x)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	fmt.Printf("torfs serve over HTTP against torfs mount, each started fresh, median of %d runs:\n", runs)
	for _, row := range []struct {
		what string
		f    func(streamFigures) float64
		unit string
	}{
		{"time to first 64 KiB (start to bytes)", func(s streamFigures) float64 { return ms(s.ttfb) }, "ms"},
		{fmt.Sprintf("seek p50 (64 KiB at %d unfetched offsets)", seeks), func(s streamFigures) float64 { return ms(s.seek) }, "ms"},
		{"cold read of the rest (HTTP GET / dd bs=1M)", func(s streamFigures) float64 { return s.cold }, "MB/s"},
	} {
		h, m := med(over, row.f), med(through, row.f)
		fmt.Printf("  %s: HTTP %.1f %s, mount %.1f %s, ratio %.2f\n", row.what, h, row.unit, m, row.unit, h/m)
	}
	var hs, fs []float64
	for i := range over {
		hs, fs = append(hs, over[i].cold), append(fs, through[i].cold)
	}
	fmt.Printf("  cold read runs: HTTP %s; mount %s\n", list(hs), list(fs))
	return nil
}
