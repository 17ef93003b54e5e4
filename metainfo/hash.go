package metainfo

import (
	"context"
	"crypto/sha1"
	"fmt"
	"io"
	"os"
	"sync"
)

// Hashing reads the files as one sequential stream into a few reusable
// chunk buffers (each a whole number of pieces) and hashes the chunks in
// worker goroutines. Reading stays sequential, which disks and the page
// cache like, while SHA-1 runs on every core; no buffer is allocated per
// piece.
const (
	// chunkTarget is the least a chunk holds, so that small pieces do not
	// cost a channel round trip each.
	chunkTarget = 4 << 20
	// bufferBudget bounds the memory of all chunk buffers together.
	bufferBudget = 256 << 20
)

type chunk struct {
	first int    // index of the chunk's first piece
	buf   []byte // the chunk's buffer, full capacity
	n     int    // bytes of data in buf
}

// hashPieces returns the concatenated SHA-1 hashes of the pieces of the
// byte stream formed by files, in order. progress, if not nil, is called
// from the calling goroutine with the bytes hashed so far.
func hashPieces(ctx context.Context, files []srcFile, pieceLen, total int64, workers int, progress func(done, total int64)) ([]byte, error) {
	numPieces := (total + pieceLen - 1) / pieceLen
	hashes := make([]byte, numPieces*HashSize)
	if total == 0 {
		return hashes, nil
	}
	perChunk := max(1, chunkTarget/pieceLen)
	chunkLen := perChunk * pieceLen
	nbuf := int64(workers) + 2
	nbuf = max(2, min(nbuf, bufferBudget/chunkLen))

	jobs := make(chan chunk)
	done := make(chan chunk, nbuf)
	for range nbuf {
		done <- chunk{buf: make([]byte, chunkLen)}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range jobs {
				hashChunk(hashes, c, pieceLen)
				done <- c
			}
		})
	}

	var hashed int64
	// recycle takes a buffer back from the workers, counting its bytes.
	recycle := func() chunk {
		c := <-done
		if c.n > 0 && progress != nil {
			hashed += int64(c.n)
			progress(hashed, total)
		}
		return c
	}
	err := readChunks(ctx, files, chunkLen, perChunk, jobs, recycle)
	close(jobs)
	wg.Wait()
	for len(done) > 0 {
		recycle()
	}
	if err != nil {
		return nil, err
	}
	return hashes, nil
}

func hashChunk(hashes []byte, c chunk, pieceLen int64) {
	data := c.buf[:c.n]
	for p := c.first; len(data) > 0; p++ {
		n := min(int64(len(data)), pieceLen)
		sum := sha1.Sum(data[:n])
		copy(hashes[p*HashSize:], sum[:])
		data = data[n:]
	}
}

// readChunks fills chunk buffers from the files in order and sends them
// to jobs; the last chunk may be short.
func readChunks(ctx context.Context, files []srcFile, chunkLen, perChunk int64, jobs chan<- chunk, recycle func() chunk) error {
	c := recycle()
	c.n, c.first = 0, 0
	for _, sf := range files {
		if sf.size == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("create torrent: %w", err)
		}
		f, err := os.Open(sf.abs)
		if err != nil {
			return fmt.Errorf("create torrent: %w", err)
		}
		left := sf.size
		for left > 0 {
			want := min(left, chunkLen-int64(c.n))
			m, err := io.ReadFull(f, c.buf[c.n:int64(c.n)+want])
			c.n += m
			left -= int64(m)
			if err != nil {
				f.Close()
				if err == io.ErrUnexpectedEOF || err == io.EOF {
					return fmt.Errorf("create torrent: %s shrank while being hashed", sf.abs)
				}
				return fmt.Errorf("create torrent: read %s: %w", sf.abs, err)
			}
			if int64(c.n) == chunkLen {
				if err := ctx.Err(); err != nil {
					f.Close()
					return fmt.Errorf("create torrent: %w", err)
				}
				next := c.first + int(perChunk)
				jobs <- c
				c = recycle()
				c.n, c.first = 0, next
			}
		}
		f.Close()
	}
	if c.n > 0 {
		jobs <- c
	}
	return nil
}
