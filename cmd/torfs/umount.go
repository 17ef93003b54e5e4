package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/internal/mountinfo"
	"github.com/torfs/torfs/internal/mountreg"
)

func umountCommand() *command {
	return &command{
		name:    "umount",
		summary: "unmount a running torfs mount and wait until its process exited",
		usage: `Usage: torfs umount [flags] MOUNTPOINT

Ends the torfs mount on MOUNTPOINT the way Ctrl-C in its terminal would:
it signals the torfs process serving it (found through the records
'torfs list' reads), which unmounts, tells the trackers and saves the
cache. torfs umount waits until that process has exited, for at most
--timeout; if the mount is still there then, it says which processes hold
files in it. Files still open in the mount keep being served for up to
3 s after it is detached.

A MOUNTPOINT that is not a torfs mount is an error; so is a dead torfs
mount (its process was killed): clear that with 'fusermount3 -u'.

Flags:
  --timeout DUR   how long to wait for the mount to go (default 10s)

Examples:
  torfs umount /mnt/film
  torfs umount --timeout 30s /mnt/torrents
`,
		run: runUmount,
	}
}

func runUmount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("umount")
	timeout := fl.Duration("timeout", 10*time.Second, "wait")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one mountpoint, got %d arguments", len(pos))
	}
	if *timeout <= 0 {
		return usagef("--timeout: want a positive duration such as 10s, got %v", *timeout)
	}
	mp, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	e, err := findMount(mp)
	if err != nil {
		return err
	}
	// The pidfd names this very process even if its pid is reused
	// before we look again.
	pidfd, err := unix.PidfdOpen(e.PID, 0)
	if errors.Is(err, syscall.ESRCH) {
		fmt.Fprintf(stdout, "%s was unmounted already\n", e.Mountpoint)
		return nil
	}
	if err != nil {
		return fmt.Errorf("the torfs process %d serving %s: %w", e.PID, e.Mountpoint, err)
	}
	defer unix.Close(pidfd)
	if !mountreg.Alive(e) {
		fmt.Fprintf(stdout, "%s was unmounted already\n", e.Mountpoint)
		return nil
	}
	if err := unix.Kill(e.PID, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("%s is served by torfs process %d of another user: it can be unmounted only by that user or root", e.Mountpoint, e.PID)
		}
		return fmt.Errorf("signalling torfs process %d: %w", e.PID, err)
	}
	exited, err := waitPidfd(ctx, pidfd, *timeout)
	if err != nil {
		return err
	}
	_, mounted := mountinfo.Top(e.Mountpoint)
	switch {
	case exited && !mounted:
		fmt.Fprintf(stdout, "unmounted %s\n", e.Mountpoint)
		return nil
	case exited:
		return fmt.Errorf("the torfs process %d exited but left %s mounted: clear it with 'fusermount3 -u %s'", e.PID, e.Mountpoint, e.Mountpoint)
	case !mounted:
		fmt.Fprintf(stdout, "unmounted %s; torfs process %d is still finishing (files still open in the mount, or telling the trackers)\n", e.Mountpoint, e.PID)
		return nil
	}
	var holders []string
	for _, h := range mountreg.Holders(e.Mountpoint) {
		holders = append(holders, fmt.Sprintf("%s (pid %d)", h.Command, h.PID))
	}
	msg := fmt.Sprintf("%s is still mounted after %v (torfs process %d is still running)", e.Mountpoint, *timeout, e.PID)
	if len(holders) > 0 {
		msg += "; programs using it: " + strings.Join(holders, ", ")
	}
	return errors.New(msg + "; run torfs umount again, or kill " + fmt.Sprint(e.PID))
}

// findMount returns the running mount registered for mountpoint mp, or
// an error saying what mp is instead.
func findMount(mp string) (mountreg.Entry, error) {
	entries, err := mountreg.List(mountreg.Dir())
	if err != nil {
		return mountreg.Entry{}, err
	}
	resolved := mp
	if r, err := filepath.EvalSymlinks(filepath.Dir(mp)); err == nil {
		resolved = filepath.Join(r, filepath.Base(mp))
	}
	for _, e := range entries {
		if e.Mountpoint == mp || e.Mountpoint == resolved {
			return e, nil
		}
	}
	for _, p := range []string{mp, resolved} {
		if m, ok := mountinfo.Top(p); ok && strings.HasPrefix(m.FSType, "fuse.torfs") {
			return mountreg.Entry{}, fmt.Errorf("%s is a torfs mount that no running torfs serves here (its process died, or runs as another user): clear it with 'fusermount3 -u %s'", p, p)
		}
	}
	return mountreg.Entry{}, fmt.Errorf("%s is not a torfs mount ('torfs list' shows the running ones)", mp)
}

// waitPidfd waits until the process of pidfd exits (true), timeout
// passes (false) or ctx ends.
func waitPidfd(ctx context.Context, pidfd int, timeout time.Duration) (bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		if ctx.Err() != nil {
			return false, errors.New("interrupted while waiting for the mount to end")
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		// Short polls, so that an interrupt is noticed.
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(left, 200*time.Millisecond)/time.Millisecond)+1)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return false, fmt.Errorf("waiting for the torfs process: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
}
