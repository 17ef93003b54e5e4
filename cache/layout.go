package cache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/torfs/torfs/metainfo"
	"golang.org/x/sys/unix"
)

// fileStat is what a backing file looked like before Open touched it.
type fileStat struct {
	exists bool
	size   int64
	mtime  int64 // Unix nanoseconds
}

// backingPaths returns the backing file of every torrent file, "" for pad
// files and symlinks, which are never stored.
func backingPaths(info *metainfo.Info, dir string) []string {
	root := dir
	if info.MultiFile {
		root = filepath.Join(dir, info.Name)
	}
	paths := make([]string, len(info.Files))
	for k, f := range info.Files {
		if f.Pad || f.Symlink != nil {
			continue
		}
		paths[k] = filepath.Join(append([]string{root}, f.Path...)...)
	}
	return paths
}

// prepareFiles creates the directories and backing files, gives each its
// torrent length (preallocated when prealloc is set, sparse otherwise) and
// returns what each looked like before.
func prepareFiles(info *metainfo.Info, paths []string, prealloc bool) ([]fileStat, error) {
	pre := make([]fileStat, len(paths))
	dirs := make(map[string]bool)
	for k, path := range paths {
		if path == "" {
			continue
		}
		if fi, err := os.Stat(path); err == nil {
			if !fi.Mode().IsRegular() {
				return nil, fmt.Errorf("cache: %s exists and is not a regular file", path)
			}
			pre[k] = fileStat{exists: true, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
		}
		if d := filepath.Dir(path); !dirs[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, fmt.Errorf("cache: creating directory for %s: %w", path, err)
			}
			dirs[d] = true
		}
		if err := sizeFile(path, info.Files[k].Length, pre[k], prealloc); err != nil {
			return nil, err
		}
	}
	return pre, nil
}

// sizeFile gives a backing file its length, allocating its blocks when
// prealloc is set.
func sizeFile(path string, length int64, pre fileStat, prealloc bool) error {
	if pre.exists && pre.size == length && !prealloc {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cache: creating %s: %w", path, err)
	}
	defer f.Close()
	if pre.size != length {
		if err := f.Truncate(length); err != nil {
			return fmt.Errorf("cache: sizing %s: %w", path, err)
		}
	}
	if prealloc && length > 0 {
		err := unix.Fallocate(int(f.Fd()), 0, 0, length)
		switch {
		case err == nil, errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		case errors.Is(err, unix.ENOSPC):
			return fmt.Errorf("cache: not enough free space to preallocate %s (%d bytes); free some space or set a cache budget: %w", path, length, err)
		default:
			return fmt.Errorf("cache: preallocating %s: %w", path, err)
		}
	}
	return nil
}

// blockSize returns the allocation unit of the filesystem holding dir.
func blockSize(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Bsize <= 0 {
		return 4096
	}
	return st.Bsize
}

// footprints returns, per piece, the bytes of the blocks its stored
// ranges touch, each range rounded out to whole blocks.
func footprints(info *metainfo.Info, bs int64) []int64 {
	fp := make([]int64, info.NumPieces())
	for p := range fp {
		info.EachSpan(info.PieceOffset(p), info.PieceSize(p), func(s metainfo.Span) bool {
			if !info.Files[s.File].Pad && info.Files[s.File].Symlink == nil {
				fp[p] += roundUp(s.Offset+s.Length, bs) - roundDown(s.Offset, bs)
			}
			return true
		})
	}
	return fp
}

func roundDown(x, bs int64) int64 { return x / bs * bs }
func roundUp(x, bs int64) int64   { return (x + bs - 1) / bs * bs }

// stored reports whether torrent file k has a backing file.
func stored(info *metainfo.Info, k int) bool {
	return !info.Files[k].Pad && info.Files[k].Symlink == nil
}
