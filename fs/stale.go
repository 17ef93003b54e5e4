package fs

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	dev := mountField(dir, 2) // major:minor
	if dev == "" {
		return fmt.Errorf("%s not found in mountinfo", dir)
	}
	return os.WriteFile("/sys/class/bdi/"+dev+"/read_ahead_kb", []byte(strconv.Itoa(bytes>>10)), 0)
}

// mountType returns the file system type of the topmost mount on dir
// from /proc/self/mountinfo, or "" when dir is not a mountpoint.
func mountType(dir string) string {
	return mountField(dir, -1)
}

// mountField returns field i of the topmost mountinfo line of dir, or
// with i < 0 the file system type, or "" when dir is not a mountpoint.
func mountField(dir string, i int) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	value := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		if i >= 0 {
			value = fields[i] // later lines are mounted on top
			continue
		}
		for k := 5; k+1 < len(fields); k++ {
			if fields[k] == "-" {
				value = fields[k+1]
				break
			}
		}
	}
	return value
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) the
// kernel applies to paths in mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
