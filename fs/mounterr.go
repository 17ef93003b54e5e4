package fs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrFUSEUnavailable reports that the kernel's FUSE device cannot be used
// here: missing, not permitted, or the kernel has no FUSE support.
var ErrFUSEUnavailable = errors.New("FUSE is not available")

// explainMountError turns a failed mount into what failed and what to do
// about it. go-fuse reports a failed fusermount3 only as "fusermount
// exited with code 256" (a raw wait status), and a failed direct mount
// (as root) not at all, since it then falls back to fusermount3; the
// causes are found again by checking them in the order the mount needs
// them. fusermount3's own message, if any, is already on stderr.
func explainMountError(dir string, opts MountOptions, err error) error {
	cause := diagnoseMount(dir, opts, os.Geteuid() == 0)
	if cause == nil {
		return fmt.Errorf("mounting on %s: %w", dir, fusermountError{err})
	}
	return fmt.Errorf("mounting on %s: %w (%w)", dir, cause, fusermountError{err})
}

// diagnoseMount returns the first reason a FUSE mount on dir cannot
// work for this process, or nil when it finds none.
func diagnoseMount(dir string, opts MountOptions, root bool) error {
	if !kernelHasFUSE() {
		return fmt.Errorf("%w: the kernel has no FUSE support; load it with 'modprobe fuse'", ErrFUSEUnavailable)
	}
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		return fmt.Errorf("%w: /dev/fuse is missing (%w); load the module with 'modprobe fuse', or give the container the device (docker run --device /dev/fuse)", ErrFUSEUnavailable, err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("%w: /dev/fuse is not a character device", ErrFUSEUnavailable)
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		return fmt.Errorf("%w: you cannot open /dev/fuse (mode %04o): %w; the administrator can allow it with 'chmod 666 /dev/fuse'",
			ErrFUSEUnavailable, fi.Mode().Perm(), err)
	}
	if root {
		if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
			return fmt.Errorf("%w: opening /dev/fuse: %w (a container needs the device allowed, e.g. docker run --device /dev/fuse --cap-add SYS_ADMIN)", ErrFUSEUnavailable, err)
		} else {
			f.Close()
		}
		if !hasCapSysAdmin() {
			return errors.New("this root has no CAP_SYS_ADMIN, which mounting needs (a container: run it with --cap-add SYS_ADMIN)")
		}
		return nil
	}
	bin, err := exec.LookPath("fusermount3")
	if err != nil {
		// go-fuse falls back to FUSE 2's fusermount, which refuses a
		// mountpoint holding files.
		if bin, err = exec.LookPath("fusermount"); err != nil {
			return fmt.Errorf("%w: fusermount3, which mounts for users other than root, is not installed (install the fuse3 package)", ErrFUSEUnavailable)
		}
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s is not empty, and FUSE 2's fusermount (fusermount3 is not installed) refuses to mount over files; use an empty directory, or install the fuse3 package", dir)
		}
	}
	if bfi, err := os.Stat(bin); err == nil && bfi.Mode()&os.ModeSetuid == 0 {
		return fmt.Errorf("%w: %s is not setuid root, so it cannot mount for you (chmod u+s %s, as root)", ErrFUSEUnavailable, bin, bin)
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("no permission to mount on %s: fusermount3 needs you to be able to write to the mountpoint (%w); use a directory you own", dir, err)
	}
	if opts.AllowOther && !fuseConfAllows("user_allow_other") {
		return errors.New("-o allow_other needs 'user_allow_other' in /etc/fuse.conf (ask the administrator), or mount without it")
	}
	return nil
}

// kernelHasFUSE reports whether /proc/filesystems lists fuse (true when
// it cannot tell).
func kernelHasFUSE() bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return true
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 && fields[len(fields)-1] == "fuse" {
			return true
		}
	}
	return false
}

// hasCapSysAdmin reports whether this process has CAP_SYS_ADMIN in its
// effective set (true when it cannot tell).
func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return true
}

// fuseConfAllows reports whether /etc/fuse.conf sets option.
func fuseConfAllows(option string) bool {
	b, err := os.ReadFile("/etc/fuse.conf")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == option {
			return true
		}
	}
	return false
}

// fusermountError words go-fuse's mount errors for a user: its
// "fusermount exited with code 256" carries a raw wait status, which
// becomes "fusermount3 failed (exit status 1)".
type fusermountError struct{ err error }

func (e fusermountError) Unwrap() error { return e.err }

func (e fusermountError) Error() string {
	msg := strings.TrimSpace(e.err.Error())
	if v, ok := strings.CutPrefix(msg, "fusermount exited with code "); ok {
		if n, err := strconv.Atoi(v); err == nil {
			ws := syscall.WaitStatus(n)
			if ws.Signaled() {
				return fmt.Sprintf("fusermount3 was killed by %v", ws.Signal())
			}
			return fmt.Sprintf("fusermount3 failed (exit status %d)", ws.ExitStatus())
		}
	}
	return msg
}
