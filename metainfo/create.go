package metainfo

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/zeebo/bencode"
)

// CreateOptions are the choices of Create. The zero value makes a public
// torrent with no trackers and an automatic piece length.
type CreateOptions struct {
	// PieceLength in bytes; 0 chooses one from the total size (see
	// AutoPieceLength).
	PieceLength int64
	// Trackers are BEP 12 tiers; mktorrent's -a makes one tier per URL.
	Trackers [][]string
	// WebSeeds are BEP 19 url-list entries.
	WebSeeds []string
	Comment  string
	Private  bool
	// CreatedBy names the program; "" writes "torfs".
	CreatedBy string
	// CreationDate is written as "creation date"; the zero time writes
	// the current time.
	CreationDate time.Time
	// Progress, if not nil, is called from Create's goroutine as pieces
	// are hashed, with bytes hashed so far and the total.
	Progress func(done, total int64)
	// Workers is the number of hashing goroutines; 0 uses every core.
	Workers int
	// Version is what kind of torrent to make: V1 (the zero value too),
	// the same torrent as mktorrent; V2, a BEP 52 torrent; Hybrid, both
	// in one, with pad files aligning the v1 files to pieces. V2 and
	// Hybrid give the info dictionary libtorrent's create_torrent gives
	// for the same files and piece length, which must be a power of two
	// of at least 16 KiB.
	Version Version
}

// AutoPieceLength returns the piece length Create uses for total bytes: the
// smallest power of two from 16 KiB to 16 MiB that gives at most 2000
// pieces, so that a torrent has roughly 1000 to 2000 pieces, as common
// tools aim for.
func AutoPieceLength(total int64) int64 {
	pl := int64(16 << 10)
	for pl < 16<<20 && (total+pl-1)/pl > 2000 {
		pl *= 2
	}
	return pl
}

// infoDict is the info dictionary Create writes. Its keys and their
// presence match mktorrent's, so the same input and piece length give
// the same info-hash: 'private' appears only when set.
type infoDict struct {
	Files       []fileDict `bencode:"files,omitempty"`
	Length      int64      `bencode:"length,omitempty"`
	Name        string     `bencode:"name"`
	PieceLength int64      `bencode:"piece length"`
	Pieces      []byte     `bencode:"pieces"`
	Private     int        `bencode:"private,omitempty"`
}

type fileDict struct {
	Length int64    `bencode:"length"`
	Path   []string `bencode:"path"`
}

// Create makes a torrent of the file or directory at root. A directory's
// files are ordered by the bytes of their path below root (like
// mktorrent), hidden files included; symbolic links are followed, and
// other special files skipped (see collectFiles). Pieces are hashed on
// all cores. The result is what Parse returns for the encoded torrent.
func Create(ctx context.Context, root string, opts CreateOptions) (*MetaInfo, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("create torrent: %w", err)
	}
	files, single, err := collectFiles(abs)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("create torrent: %s contains no files", root)
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	if total == 0 {
		return nil, fmt.Errorf("create torrent: %s holds no data (every file is empty)", root)
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = AutoPieceLength(total)
	}
	if pl < 0 || pl > MaxPieceLength {
		return nil, fmt.Errorf("create torrent: piece length %d is out of range (1 to %d bytes)", pl, MaxPieceLength)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var infoBytes []byte
	var layers map[Hash256][]byte
	switch opts.Version {
	case 0, V1:
		infoBytes, err = createV1(ctx, files, single, filepath.Base(abs), pl, total, workers, &opts)
	case V2, Hybrid:
		infoBytes, layers, err = createV2(ctx, files, single, filepath.Base(abs), pl, workers, &opts)
	default:
		err = fmt.Errorf("create torrent: unknown version %d", opts.Version)
	}
	if err != nil {
		return nil, err
	}
	mi := &MetaInfo{
		PieceLayers:  layers,
		InfoBytes:    infoBytes,
		AnnounceList: opts.Trackers,
		URLList:      opts.WebSeeds,
		Comment:      opts.Comment,
		CreatedBy:    opts.CreatedBy,
		CreationDate: opts.CreationDate,
	}
	if mi.CreatedBy == "" {
		mi.CreatedBy = "torfs"
	}
	if mi.CreationDate.IsZero() {
		mi.CreationDate = time.Now()
	}
	// Like mktorrent, a lone tracker is written as 'announce' only.
	if len(opts.Trackers) == 1 && len(opts.Trackers[0]) == 1 {
		mi.Announce, mi.AnnounceList = opts.Trackers[0][0], nil
	}
	data, err := mi.Encode()
	if err != nil {
		return nil, err
	}
	// Parsing what was written validates it with the rules every reader
	// applies (a file name holding '\' is refused here, not by a peer).
	out, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("create torrent: %w", err)
	}
	return out, nil
}

// createV1 hashes files and returns the info dictionary mktorrent writes.
func createV1(ctx context.Context, files []srcFile, single bool, name string, pl, total int64, workers int, opts *CreateOptions) ([]byte, error) {
	pieces, err := hashPieces(ctx, files, pl, total, workers, opts.Progress)
	if err != nil {
		return nil, err
	}
	info := infoDict{Name: name, PieceLength: pl, Pieces: pieces}
	if opts.Private {
		info.Private = 1
	}
	if single {
		info.Length = total
	} else {
		for _, f := range files {
			info.Files = append(info.Files, fileDict{Length: f.size, Path: f.rel})
		}
	}
	infoBytes, err := bencode.EncodeBytes(info)
	if err != nil {
		return nil, fmt.Errorf("create torrent: %w", err)
	}
	return infoBytes, nil
}
