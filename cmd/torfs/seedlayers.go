package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

// fillLayers computes from the data in dir the piece layers that mi, a
// v2-only torrent, lacks ('piece layers' may leave files out): a seeder
// holds the files, so it need not ask peers for their hashes. A layer is
// kept only when it hashes up to the file's pieces root. It fails, naming
// them, when some files are missing or differ, since a v2-only torrent
// cannot be served without every piece's hash.
func fillLayers(ctx context.Context, mi *metainfo.MetaInfo, dir string, stderr io.Writer) error {
	if fetch.CheckSupported(mi) == nil {
		return nil
	}
	if mi.PieceLayers == nil {
		mi.PieceLayers = map[metainfo.Hash256][]byte{}
	}
	info := &mi.Info
	var bad []string
	for _, f := range mi.FilesLackingLayers() {
		path := filePath(info, dir, f)
		layer, err := fileLayer(ctx, path, info.PieceLength, f.Length, f.PiecesRoot)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted while hashing %s: %w", path, ctx.Err())
			}
			bad = append(bad, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		mi.PieceLayers[f.PiecesRoot] = layer
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s is a v2-only torrent whose 'piece layers' leave out files, and the piece hashes of %s cannot be computed from the data in %s:\n  %s\nseed from the complete data, or from a .torrent with all the piece layers (as torfs create and libtorrent write it)",
			mi.Info.Name, plural.Count(len(bad), "file", "files"), dir, strings.Join(bad, "\n  "))
	}
	fmt.Fprintf(stderr, "computed the piece hashes the .torrent leaves out from the data in %s\n", dir)
	return nil
}

// fileLayer hashes the file at path, of want bytes, and returns its
// piece layer if its pieces root is root.
func fileLayer(ctx context.Context, path string, pieceLength, want int64, root metainfo.Hash256) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() != want {
		return nil, fmt.Errorf("%d bytes, the torrent says %d", fi.Size(), want)
	}
	h := metainfo.NewFileHasher(pieceLength)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k, err := f.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if n != want { // it changed while read
		return nil, fmt.Errorf("%d bytes, the torrent says %d", n, want)
	}
	got, layer, ok := h.Sum()
	if !ok || got != root {
		return nil, fmt.Errorf("its content is not the torrent's (the pieces root differs)")
	}
	return layer, nil
}
