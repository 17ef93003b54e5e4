package cache

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
	"golang.org/x/sys/unix"
)

// benchTorrent is 64 MiB in 256 KiB pieces, one file.
func benchTorrent(b *testing.B) *torrent {
	return newTorrent(b, 99, 256<<10, testFile{name: "x", length: 64 << 20})
}

// BenchmarkReadAt reads a fully verified torrent through the cache and the
// same bytes from a plain file in the same run, 128 KiB per call (a FUSE
// read) or 16 KiB (an upload), and reports the cache's throughput as a
// ratio of the plain file's (goal: >= 0.9).
func BenchmarkReadAt(b *testing.B) {
	b.Run("128KiB", func(b *testing.B) { benchReadAt(b, 128<<10) })
	// An upload reads one 16 KiB block per request.
	b.Run("16KiB", func(b *testing.B) { benchReadAt(b, 16<<10) })
}

func benchReadAt(b *testing.B, size int) {
	tt := benchTorrent(b)
	dir := b.TempDir()
	c := open(b, tt, Options{Dir: filepath.Join(dir, "cache")})
	for p := range tt.info.NumPieces() {
		download(b, c, tt, p)
	}
	plainPath := filepath.Join(dir, "plain")
	if err := os.WriteFile(plainPath, tt.data, 0o644); err != nil {
		b.Fatal(err)
	}
	plain, err := os.Open(plainPath)
	if err != nil {
		b.Fatal(err)
	}
	defer plain.Close()

	buf := make([]byte, size)
	// The reader stays on one thread so that its CPU time (immune to
	// other load on the machine) can be read as well as the wall clock.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pass := func(read func([]byte, int64) (int, error)) (wall, cpu time.Duration) {
		start, cpu0 := time.Now(), threadCPU(b)
		for off := int64(0); off < tt.info.Length; off += int64(len(buf)) {
			if _, err := read(buf, off); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start), threadCPU(b) - cpu0
	}
	// Give both files the same page-cache state: how pages were first
	// written (16 KiB blocks vs one big write) changes the kernel's folio
	// sizes and would dominate the comparison. Flush, drop, then warm
	// both with the same reads.
	dropPages(b, plainPath)
	dropPages(b, c.files.paths[0])
	pass(plain.ReadAt)
	pass(c.ReadAt)
	var tPlain, tCache, cpuPlain, cpuCache time.Duration
	runPlain := func() {
		w, c := pass(plain.ReadAt)
		tPlain += w
		cpuPlain += c
	}
	runCache := func() {
		w, c := pass(c.ReadAt)
		tCache += w
		cpuCache += c
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate the order so neither side always runs second.
		if i%2 == 0 {
			runPlain()
			runCache()
		} else {
			runCache()
			runPlain()
		}
	}
	total := float64(tt.info.Length) * float64(b.N)
	b.ReportMetric(total/tCache.Seconds()/1e9, "cache-GB/s")
	b.ReportMetric(total/tPlain.Seconds()/1e9, "plain-GB/s")
	b.ReportMetric(float64(tPlain)/float64(tCache), "x-plain-file")
	b.ReportMetric(float64(cpuPlain)/float64(cpuCache), "x-plain-file-cpu")
}

// BenchmarkWriteVerify writes a 64 MiB torrent and verifies each piece
// with a single writer, and reports its throughput as a ratio of
// crypto/sha1's raw speed measured in the same run (goal: >= 0.7).
//
//   - "serial" verifies each piece on the writer's goroutine;
//     "pipelined" hands finished pieces to one verifier goroutine, as the
//     engine's writer goroutines and hash workers do.
//   - Pieces are 256 KiB (the smallest torrents use) or 4 MiB (what
//     large torrents, the ones a mount is for, use).
//   - Blocks are written 16 KiB at a time (one block per call, what a
//     naive engine does) or 256 KiB at a time (the runs of contiguous
//     blocks fetch really hands over).
//   - The source of the blocks is either "spread", 64 MiB of distinct
//     content the writer walks through (mostly out of the CPU caches),
//     or "hot", a torrent whose pieces repeat the same 256 KiB, so the
//     blocks come from the CPU cache, like the bytes fetch has just
//     received from a socket and like the buffer the SHA-1 reference
//     hashes.
//
// Verify returns once the piece's bytes are on disk, so a serial writer
// of 256 KiB pieces does all the copying and all the hashing in turn:
// with spread blocks that is the tightest case (see the README).
// Everywhere else the copy into the page cache overlaps the hashing.
func BenchmarkWriteVerify(b *testing.B) {
	for _, mode := range []string{"serial", "pipelined"} {
		for _, piece := range []int64{256 << 10, 4 << 20} {
			for _, size := range []int{16 << 10, 256 << 10} {
				for _, src := range []string{"spread", "hot"} {
					b.Run(fmt.Sprintf("%s/piece%dKiB/%dKiB/%s", mode, piece>>10, size>>10, src), func(b *testing.B) {
						benchWriteVerify(b, mode == "pipelined", piece, size, src == "hot")
					})
				}
			}
		}
	}
}

// hotChunk is the bytes every piece of a hot torrent repeats.
const hotChunk = 256 << 10

// hotTorrent is 64 MiB in pieces of pieceLen that all repeat the same
// 256 KiB; its data is only those 256 KiB.
func hotTorrent(b *testing.B, pieceLen int64) *torrent {
	one := newTorrent(b, 98, hotChunk, testFile{name: "x", length: hotChunk})
	h := sha1.New()
	for range pieceLen / hotChunk {
		h.Write(one.data)
	}
	info := *one.info
	info.PieceLength = pieceLen
	info.Length = 64 << 20
	info.Files = []metainfo.File{{Path: []string{info.Name}, Length: info.Length}}
	info.Pieces = bytes.Repeat(h.Sum(nil), int(info.Length/pieceLen))
	return &torrent{info: &info, data: one.data}
}

func benchWriteVerify(b *testing.B, pipelined bool, pieceLen int64, size int, hot bool) {
	var tt *torrent
	if hot {
		tt = hotTorrent(b, pieceLen)
	} else {
		tt = newTorrent(b, 99, pieceLen, testFile{name: "x", length: 64 << 20})
	}
	// block returns the bytes at offset off of piece p, at most n.
	block := func(p int, off, n int64) []byte {
		if hot {
			off %= hotChunk // the same bytes, still in the CPU cache
			return tt.data[off:min(off+n, hotChunk)]
		}
		return tt.piece(p)[off:min(off+n, pieceLen)]
	}
	dir := b.TempDir()
	n := tt.info.NumPieces()
	var tHash, tCache, cpuHash, cpuCache time.Duration
	// The writer stays on one thread so that its CPU time (immune to
	// other load on the machine) can be read as well as the wall clock.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		cdir := filepath.Join(dir, "c")
		os.RemoveAll(cdir)
		c, err := Open(tt.info, Options{Dir: cdir})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		writeVerify := func() {
			start, cpu := time.Now(), threadCPU(b)
			verified := make(chan int, 4)
			done := make(chan error, 1)
			verify := func(p int) error {
				if ok, err := c.Verify(p); !ok || err != nil {
					return fmt.Errorf("Verify(%d) = %v, %v", p, ok, err)
				}
				return nil
			}
			go func() {
				var err error
				for p := range verified {
					if err == nil {
						err = verify(p)
					}
				}
				done <- err
			}()
			for p := range n {
				for off := int64(0); off < pieceLen; {
					data := block(p, off, int64(size))
					if err := c.WriteBlock(p, off, data); err != nil {
						b.Fatal(err)
					}
					off += int64(len(data))
				}
				if pipelined {
					verified <- p
				} else if err := verify(p); err != nil {
					b.Fatal(err)
				}
			}
			close(verified)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			tCache += time.Since(start)
			cpuCache += threadCPU(b) - cpu
		}
		// The reference is crypto/sha1's raw speed: as many bytes hashed
		// from one 256 KiB buffer already in the CPU cache.
		hashOnly := func() {
			start, cpu := time.Now(), threadCPU(b)
			chunk := block(0, 0, hotChunk)
			for range tt.info.Length / hotChunk {
				sha1.Sum(chunk)
			}
			tHash += time.Since(start)
			cpuHash += threadCPU(b) - cpu
		}
		// Alternate the order so neither side always runs second.
		if i%2 == 0 {
			writeVerify()
			hashOnly()
		} else {
			hashOnly()
			writeVerify()
		}
		b.StopTimer()
		c.Close()
		os.RemoveAll(cdir)
		b.StartTimer()
	}
	total := float64(tt.info.Length) * float64(b.N)
	b.ReportMetric(total/tCache.Seconds()/1e9, "cache-GB/s")
	b.ReportMetric(total/tHash.Seconds()/1e9, "sha1-GB/s")
	b.ReportMetric(float64(tHash)/float64(tCache), "x-sha1")
	if !pipelined {
		b.ReportMetric(float64(cpuHash)/float64(cpuCache), "x-sha1-cpu")
	}
}

// dropPages writes a file back and evicts it from the page cache.
func dropPages(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFinish downloads 256 MiB into a cache with a resume state as
// fast as one writer can write and verify, then closes it, as torfs get
// does at the end of a download. It reports the time Close takes (it
// saves the state, which flushes the data to disk first: goal < 0.1 s
// here, 0.5 s for 1 GiB from torfs get) and the MB/s of the whole,
// timed to the end of Close.
func BenchmarkFinish(b *testing.B) {
	tt := newTorrent(b, 98, 256<<10, testFile{name: "x", length: 256 << 20})
	b.ResetTimer()
	var closing, whole time.Duration
	for i := range b.N {
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		c, err := Open(tt.info, Options{Dir: dir, StateFile: filepath.Join(dir, "state")})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for p := range tt.info.NumPieces() {
			download(b, c, tt, p)
		}
		done := time.Now()
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
		closing += time.Since(done)
		whole += time.Since(start)
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(closing.Seconds()/float64(b.N), "s-close")
	b.ReportMetric(float64(tt.info.Length)/1e6/whole.Seconds()*float64(b.N), "MB/s-to-close")
}

// BenchmarkEvict downloads 256 MiB in order, as a sequential reader of a
// mount makes it, into a cache with a resume state and a budget of 64
// MiB (as bench-mount's small cache), so that most pieces are evicted and its hole punched in the
// file the next pieces are being written to, and into one without a
// budget, alternating which goes first. It reports the time of the first
// as a ratio of the second ("evicting/unlimited", goal: at most 1.1), the
// fallocate calls the punch worker made per MiB evicted, and the CPU
// time of each per MiB written.
func BenchmarkEvict(b *testing.B) {
	tt := newTorrent(b, 97, 256<<10, testFile{name: "x", length: 256 << 20})
	const budget = 64 << 20
	pass := func(budget int64) (wall, cpu time.Duration, punches int64) {
		dir := b.TempDir()
		c, err := Open(tt.info, Options{Dir: filepath.Join(dir, "data"), StateFile: filepath.Join(dir, "state"), Budget: budget})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		start, cpu0 := time.Now(), processCPU(b)
		for p := range tt.info.NumPieces() {
			// In order, in 16 KiB blocks, as a peer sends a piece.
			data := tt.piece(p)
			for off := 0; off < len(data); off += 16 << 10 {
				if err := c.WriteBlock(p, int64(off), data[off:off+16<<10]); err != nil {
					b.Fatal(err)
				}
			}
			if ok, err := c.Verify(p); !ok || err != nil {
				b.Fatalf("Verify(%d) = %v, %v", p, ok, err)
			}
		}
		c.drainPunches()
		return time.Since(start), processCPU(b) - cpu0, c.punchQ.calls.Load()
	}
	var evicting, unlimited, evictingCPU, unlimitedCPU time.Duration
	var punches int64
	b.SetBytes(2 * tt.info.Length)
	for i := 0; b.Loop(); i++ {
		for _, small := range []bool{i%2 == 0, i%2 != 0} {
			if small {
				w, c, n := pass(budget)
				evicting, evictingCPU, punches = evicting+w, evictingCPU+c, punches+n
			} else {
				w, c, _ := pass(Unlimited)
				unlimited, unlimitedCPU = unlimited+w, unlimitedCPU+c
			}
		}
	}
	mib := float64(tt.info.Length>>20) * float64(b.N)
	b.ReportMetric(float64(evicting)/float64(unlimited), "evicting/unlimited")
	b.ReportMetric(float64(punches)/(mib-budget>>20*float64(b.N)), "punches/MiB")
	b.ReportMetric(float64(evictingCPU.Microseconds())/mib, "µs-cpu/MiB-evicting")
	b.ReportMetric(float64(unlimitedCPU.Microseconds())/mib, "µs-cpu/MiB-unlimited")
}

// processCPU returns the CPU time the process has used, all threads.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
