package fs

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSequentialRead reads a 64 MiB file through the mount (kernel
// page cache dropped before each pass, so every byte crosses FUSE) and
// the same bytes from a local file (in the page cache: the best a read
// can do), and reports both rates and their ratio.
func BenchmarkSequentialRead(b *testing.B) {
	const size = 64 << 20
	ft := newFakeTorrent(b, "big.bin", false, 1<<20, fakeFile{path: []string{"big.bin"}, length: size})
	ft.setAll()
	root := NewTorrentDir(ft, Options{})
	_, dir := mountForTest(b, root)
	local := filepath.Join(b.TempDir(), "big.bin")
	if err := os.WriteFile(local, ft.data, 0o644); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	readAll := func(path string) time.Duration {
		start := time.Now()
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		if err != nil || n != size {
			b.Fatalf("read %s: %d bytes, %v", path, n, err)
		}
		return time.Since(start)
	}
	readAll(local) // warm the page cache
	b.SetBytes(size)
	b.ResetTimer()
	var fuseTime, localTime time.Duration
	for b.Loop() {
		b.StopTimer()
		root.GetChild("big.bin").NotifyContent(0, size)
		b.StartTimer()
		fuseTime += readAll(filepath.Join(dir, "big.bin"))
		b.StopTimer()
		localTime += readAll(local)
		b.StartTimer()
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(fuseTime), "fuse-MB/s")
	b.ReportMetric(mbps(localTime), "local-MB/s")
	b.ReportMetric(mbps(fuseTime)/mbps(localTime), "ratio")
}
