package metainfo

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/zeebo/bencode"
)

// createV2 hashes files for a v2 or hybrid torrent (opts.Version) and
// returns the info dictionary and the piece layers libtorrent's
// create_torrent writes for them: files in the order of the file tree
// (path components compared one by one); attribute "x" for a file its
// owner may execute; in a hybrid's v1 'files', after each file that does
// not end at a piece boundary (the last one too), a pad file
// [".pad", "N"] with attribute "p", and none in a single-file torrent.
func createV2(ctx context.Context, files []srcFile, single bool, name string, pl int64, workers int, opts *CreateOptions) ([]byte, map[Hash256][]byte, error) {
	if err := checkPieceLengthV2(pl); err != nil {
		return nil, nil, fmt.Errorf("create torrent: piece length %d: a v2 or hybrid torrent's must be a power of two of at least 16 KiB", pl)
	}
	hybrid := opts.Version == Hybrid
	slices.SortFunc(files, func(a, b srcFile) int { return slices.Compare(a.rel, b.rel) })
	// The piece-aligned stream: each file, then the pad that ends its
	// last piece.
	var stream []srcFile
	starts := make([]int64, len(files)) // where each file starts in it
	var off int64
	for i, f := range files {
		starts[i] = off
		stream = append(stream, f)
		off += f.size
		if n := (pl - off%pl) % pl; n > 0 && !single {
			stream = append(stream, srcFile{pad: true, size: n})
			off += n
		}
	}
	total := off
	if total > MaxLength {
		return nil, nil, fmt.Errorf("create torrent: %d bytes, larger than the supported %d", total, int64(MaxLength))
	}
	v1, merkle, err := hashStream(ctx, stream, pl, total, workers, opts.Progress, hybrid, true)
	if err != nil {
		return nil, nil, err
	}

	tree := map[string]any{}
	layers := map[Hash256][]byte{}
	var v1Files []map[string]any
	for i, f := range files {
		entry := map[string]any{"length": f.size}
		if f.exec {
			entry["attr"] = "x"
		}
		if f.size > 0 {
			first := starts[i] / pl
			count := (f.size + pl - 1) / pl
			layer := merkle[first : first+count]
			var flat []byte
			if f.size > pl {
				for _, h := range layer {
					flat = append(flat, h[:]...)
				}
			}
			root := fileRoot(layer, pl, f.size)
			entry["pieces root"] = string(root[:])
			if flat != nil {
				layers[root] = flat
			}
		}
		dir := tree
		for _, c := range f.rel[:len(f.rel)-1] {
			sub, ok := dir[c].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dir[c] = sub
			}
			dir = sub
		}
		dir[f.rel[len(f.rel)-1]] = map[string]any{"": entry}

		if hybrid && !single {
			v1f := map[string]any{"length": f.size, "path": f.rel}
			if f.exec {
				v1f["attr"] = "x"
			}
			v1Files = append(v1Files, v1f)
			if n := (pl - (starts[i]+f.size)%pl) % pl; n > 0 {
				v1Files = append(v1Files, map[string]any{"attr": "p", "length": n, "path": []string{".pad", strconv.FormatInt(n, 10)}})
			}
		}
	}
	info := map[string]any{"file tree": tree, "meta version": 2, "name": name, "piece length": pl}
	if hybrid {
		info["pieces"] = v1
		if single {
			info["length"] = files[0].size
		} else {
			info["files"] = v1Files
		}
	}
	if opts.Private {
		info["private"] = 1
	}
	infoBytes, err := bencode.EncodeBytes(info)
	if err != nil {
		return nil, nil, fmt.Errorf("create torrent: %w", err)
	}
	if len(layers) == 0 {
		layers = nil
	}
	return infoBytes, layers, nil
}
