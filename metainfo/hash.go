package metainfo

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
)

// Hashing splits the byte stream of all files into chunks of whole pieces
// that workers claim in order. A worker reads its chunk with positional
// reads into one small buffer of its own and feeds the SHA-1 right away,
// so the bytes are hashed by the core that copied them while they are
// still in its cache, and no buffer is allocated per piece. Chunks are
// claimed in stream order, so the files are read nearly sequentially.
//
// Measured on 2 cores with a warm page cache (1 GiB, 1 MiB pieces), this
// takes about 0.7 CPU-seconds where one reader goroutine filling 4 MiB
// buffers for the hashers took about 1.0; mapping the files (mmap) cost
// more than reading them, in page faults.
const (
	// chunkTarget is the least a chunk holds, so that small pieces do not
	// cost a claim each, and reads stay long.
	chunkTarget = 4 << 20
	// readSize is the buffer a worker reads into: small enough to stay in
	// a core's cache between the copy and the hash.
	readSize = 256 << 10
)

// stream is the files of a torrent being created, as one byte range.
type stream struct {
	files []srcFile
	ends  []int64 // ends[i] is where files[i] ends in the stream
}

func newStream(files []srcFile) *stream {
	s := &stream{files: files, ends: make([]int64, len(files))}
	var off int64
	for i, f := range files {
		off += f.size
		s.ends[i] = off
	}
	return s
}

// reader is one worker's view of the stream: the file it has open.
type reader struct {
	s   *stream
	idx int
	f   *os.File
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// readAt fills b from stream offset off, crossing files as needed.
func (r *reader) readAt(b []byte, off int64) error {
	for len(b) > 0 {
		// The file holding off: the first whose end is past it.
		i := sort.Search(len(r.s.ends), func(i int) bool { return r.s.ends[i] > off })
		if i == len(r.s.ends) {
			return errors.New("read past the end of the files (internal error)")
		}
		sf := &r.s.files[i]
		start := r.s.ends[i] - sf.size
		n := min(int64(len(b)), r.s.ends[i]-off)
		if sf.pad {
			clear(b[:n])
			b, off = b[n:], off+n
			continue
		}
		if r.f == nil || r.idx != i {
			r.close()
			f, err := os.Open(sf.abs)
			if err != nil {
				return err
			}
			r.f, r.idx = f, i
		}
		m, err := r.f.ReadAt(b[:n], off-start)
		if int64(m) < n {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%s shrank while being hashed", sf.abs)
			}
			return fmt.Errorf("read %s: %w", sf.abs, err)
		}
		b, off = b[n:], off+n
	}
	return nil
}

// hashPieces returns the concatenated SHA-1 hashes of the pieces of the
// byte stream formed by files, in order. progress, if not nil, is called
// from the calling goroutine with the bytes hashed so far.
func hashPieces(ctx context.Context, files []srcFile, pieceLen, total int64, workers int, progress func(done, total int64)) ([]byte, error) {
	v1, _, err := hashStream(ctx, files, pieceLen, total, workers, progress, true, false)
	return v1, err
}

// hashStream hashes the pieces of the byte stream formed by files: with
// v1, the SHA-1 of each piece, concatenated; with v2, each piece's BEP 52
// merkle hash (see pieceHash). For v2 the stream must be piece-aligned,
// every file but an empty one starting a piece, pad files between them;
// the pad bytes are hashed only for v1.
func hashStream(ctx context.Context, files []srcFile, pieceLen, total int64, workers int, progress func(done, total int64), v1, v2 bool) ([]byte, []Hash256, error) {
	numPieces := (total + pieceLen - 1) / pieceLen
	var hashes []byte
	var merkle []Hash256
	if v1 {
		hashes = make([]byte, numPieces*HashSize)
	}
	if v2 {
		merkle = make([]Hash256, numPieces)
	}
	if total == 0 {
		return hashes, merkle, nil
	}
	s := newStream(files)
	perChunk := max(1, chunkTarget/pieceLen)
	numChunks := (numPieces + perChunk - 1) / perChunk

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64 // next chunk to claim
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	hashed := make(chan int64, workers)
	for range workers {
		wg.Go(func() {
			r := &reader{s: s}
			defer r.close()
			buf := make([]byte, min(readSize, pieceLen))
			h := sha1.New()
			var sum []byte
			var leaves []Hash256
			for {
				c := next.Add(1) - 1
				if c >= numChunks {
					return
				}
				if err := ctx.Err(); err != nil {
					fail(fmt.Errorf("create torrent: %w", err))
					return
				}
				var n int64
				for p := c * perChunk; p < min((c+1)*perChunk, numPieces); p++ {
					off := p * pieceLen
					size := min(pieceLen, total-off)
					read := size
					var real, fileLen int64 // v2: the file's bytes in the piece, its length
					if v2 {
						i := sort.Search(len(s.ends), func(i int) bool { return s.ends[i] > off })
						real, fileLen = min(size, s.ends[i]-off), s.files[i].size
						if !v1 {
							read = real
						}
					}
					h.Reset()
					leaves = leaves[:0]
					for done := int64(0); done < read; {
						b := buf[:min(int64(len(buf)), read-done)]
						if err := r.readAt(b, off+done); err != nil {
							fail(fmt.Errorf("create torrent: %w", err))
							return
						}
						if v1 {
							h.Write(b)
						}
						// buf holds whole blocks, so no block spans two reads.
						for k := int64(0); v2 && k < int64(len(b)) && done+k < real; k += BlockSize {
							leaves = append(leaves, sha256.Sum256(b[k:min(k+BlockSize, real-done)]))
						}
						done += int64(len(b))
					}
					if v1 {
						sum = h.Sum(sum[:0])
						copy(hashes[p*HashSize:], sum)
					}
					if v2 {
						merkle[p] = pieceHash(leaves, pieceLen, fileLen)
					}
					n += size
				}
				hashed <- n
			}
		})
	}
	go func() { wg.Wait(); close(hashed) }()
	var done int64
	for n := range hashed {
		done += n
		if progress != nil {
			progress(done, total)
		}
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	return hashes, merkle, nil
}
