package cache

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// FreeSpace returns the bytes available to an unprivileged user on the
// filesystem that holds dir, or would hold it once created.
func FreeSpace(dir string) (int64, error) {
	for {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		if err == nil {
			return int64(st.Bavail) * st.Bsize, nil
		}
		parent := filepath.Dir(dir)
		if !os.IsNotExist(err) || parent == dir {
			return 0, fmt.Errorf("cache: measuring free space in %s: %w", dir, err)
		}
		dir = parent
	}
}

// DefaultBudget is the budget to use when the user gives none: the whole
// torrent when it fits in half of the free space in dir (kept sparse, as
// Options.Budget describes), otherwise half of the free space, so that a
// mount never fills the disk.
func DefaultBudget(dir string, torrentLength int64) (int64, error) {
	free, err := FreeSpace(dir)
	if err != nil {
		return 0, err
	}
	if torrentLength <= free/2 {
		return max(torrentLength, 1), nil
	}
	return free / 2, nil
}
