package demo

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// writeSamples creates the demo content under dir and returns the files'
// paths relative to it: a README, a large "film" to stream and seek in,
// and a directory of smaller files.
func writeSamples(dir string, filmSize int64) ([]string, error) {
	files := []struct {
		path string
		size int64
		text string
	}{
		{path: "README.txt", text: readme},
		{path: "film.bin", size: filmSize},
		{path: "photos/beach.raw", size: 3<<20 + 12345},
		{path: "photos/forest.raw", size: 2<<20 + 999},
		{path: "photos/night.raw", size: 1<<20 + 1},
		{path: "notes/todo.txt", text: strings.Repeat("stream every file of a torrent with cat, dd and your player\n", 40)},
	}
	var names []string
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("demo content: %w", err)
		}
		var err error
		if f.text != "" {
			err = os.WriteFile(p, []byte(f.text), 0o644)
		} else {
			err = writeRandom(p, f.size, uint64(i))
		}
		if err != nil {
			return nil, fmt.Errorf("demo content: %w", err)
		}
		names = append(names, f.path)
	}
	return names, nil
}

// writeRandom writes size pseudo-random bytes (fast, reproducible).
func writeRandom(path string, size int64, seed uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = rng.Read(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const readme = `torfs demo
==========

This directory is a BitTorrent torrent, mounted. Every file you read is
fetched piece by piece from a seeder (here, on loopback), checked against
its SHA-1 hash, and handed to your program as soon as it is verified.

film.bin is large on purpose: seek into the middle of it with dd and see
the read return before the rest of the file has been downloaded.
`
