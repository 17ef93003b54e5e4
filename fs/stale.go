package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/internal/mountinfo"
	"golang.org/x/sys/unix"
)

// checkMountpoint makes sure dir can be mounted on: a directory, not
// already serving a live FUSE mount. A dead FUSE mount of torfs (its
// process was killed, so the kernel answers ENOTCONN) is detached, which
// is safe because nothing can be served through it any more; a dead mount
// of another file system is left alone with instructions.
//
// A FUSE server that does not answer within wait is reported, not waited
// for.
func checkMountpoint(dir string, log *slog.Logger, wait time.Duration) error {
	if fstype := mountType(dir); strings.HasPrefix(fstype, "fuse") {
		// statfs always reaches the server, where stat may be answered
		// from the kernel's attribute cache even on a dead mount.
		answered, err := statfsWithin(dir, wait)
		if !answered {
			return fmt.Errorf("%s is mounted (%s) and its server does not answer; if its process hangs, stop it (or clear the mount with 'fusermount3 -u -z %s') and retry", dir, fstype, dir)
		}
		if !errors.Is(err, syscall.ENOTCONN) {
			return fmt.Errorf("%s is already mounted (%s); unmount it first with 'fusermount3 -u %s'", dir, fstype, dir)
		}
		if fstype != "fuse."+fsType {
			return fmt.Errorf("%s holds a dead FUSE mount (%s) left by a process that died; clear it with 'fusermount3 -u %s' (or 'umount -l %s' as root) and retry",
				dir, fstype, dir, dir)
		}
		log.Warn("clearing a stale torfs mount left by a process that died", "dir", dir)
		if err := detach(dir); err != nil {
			return fmt.Errorf("%s holds a stale torfs mount that could not be cleared: %w; run 'fusermount3 -u %s' (or 'umount -l %s' as root) and retry",
				dir, err, dir, dir)
		}
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("mountpoint %s does not exist; create it first (mkdir -p %s): %w", dir, dir, err)
	}
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("mountpoint %s is not a directory", dir)
	}
	return nil
}

// statfsWait bounds how long checkMountpoint waits for a FUSE server to
// answer statfs: a live server answers at once, a dead one is ENOTCONN at
// once, so only a hung (or stopped) server takes longer.
const statfsWait = 5 * time.Second

// statfsWithin calls statfs on dir, giving up after wait. A hung FUSE
// server never answers and the call cannot be cancelled: its goroutine is
// left behind, which costs one blocked thread until the server answers or
// dies.
func statfsWithin(dir string, wait time.Duration) (answered bool, err error) {
	res := make(chan error, 1)
	go func() {
		var st unix.Statfs_t
		res <- unix.Statfs(dir, &st)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case err := <-res:
		return true, err
	case <-t.C:
		return false, nil
	}
}

// setReadahead sets the read_ahead_kb of the mount on dir (root only).
func setReadahead(dir string, bytes int) error {
	m, _ := mountinfo.Top(dir)
	dev := m.Device // major:minor
	if dev == "" {
		return fmt.Errorf("%s not found in mountinfo", dir)
	}
	return os.WriteFile("/sys/class/bdi/"+dev+"/read_ahead_kb", []byte(strconv.Itoa(bytes>>10)), 0)
}

// mountType returns the file system type of the topmost mount on dir
// from /proc/self/mountinfo, or "" when dir is not a mountpoint.
func mountType(dir string) string {
	m, _ := mountinfo.Top(dir)
	return m.FSType
}
