package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/torfs/torfs/internal/mountreg"
)

// envDaemonChild marks the detached child of --daemon.
const envDaemonChild = "TORFS_MOUNT_DAEMON_CHILD"

// daemonize starts this same mount detached (a session of its own, its
// output appended to the log file), and returns once it is mounted,
// printing its line, or has failed, with the mount's own error. The
// child writes its PID to pidPath while it is mounted. "" means the
// default place for each (defaultLogPath, defaultPIDPath).
func daemonize(ctx context.Context, args []string, mountpoint string, stdout io.Writer, logPath, pidPath string) error {
	mp, err := filepath.Abs(mountpoint)
	if err != nil {
		return fmt.Errorf("mountpoint %s: %w", mountpoint, err)
	}
	if logPath == "" {
		if logPath, err = defaultLogPath(mp); err != nil {
			return err
		}
	}
	if pidPath == "" {
		pidPath = defaultPIDPath(mp)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	// Appended to, so that the log of a mount that failed at boot is
	// still there after the next one; 0600, since the source may be a
	// URL with a passkey in it.
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- %s: mounting on %s\n", time.Now().Format(time.RFC3339), mp)
	// Only what this run writes counts: an earlier run's "mounted"
	// line must not pass for this one's.
	start, err := logf.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("daemon log: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the torfs binary: %w", err)
	}
	cmd := exec.Command(self, append([]string{"mount", "--pid-file", pidPath}, args...)...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	since := func() string {
		b, _ := os.ReadFile(logPath)
		if int64(len(b)) < start {
			return "" // truncated by someone else
		}
		return string(b[start:])
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			out := strings.TrimSpace(strings.TrimPrefix(since(), "torfs mount: "))
			if out == "" {
				out = "it said nothing"
			}
			return fmt.Errorf("%s (the daemon ended: %v; log %s)", out, err, logPath)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return errors.New("interrupted before the mount was live")
		case <-tick.C:
			for _, line := range strings.Split(since(), "\n") {
				if strings.HasPrefix(line, "mounted ") {
					fmt.Fprintf(stdout, "%s\ntorfs mount runs as pid %d, logging to %s; PID in %s; unmount with 'torfs umount %s' or 'umount %s'\n",
						line, cmd.Process.Pid, logPath, pidPath, mp, mp)
					return nil
				}
			}
		}
	}
}

// mountName names a mount's files after its mountpoint mp (absolute):
// its path with / as -, as systemd names the mount unit (/mnt/film is
// mnt-film, like mnt-film.mount), "-" for /.
func mountName(mp string) string {
	name := strings.ReplaceAll(strings.Trim(filepath.Clean(mp), "/"), "/", "-")
	if name == "" {
		return "-"
	}
	return name
}

// defaultLogPath is where --daemon logs the mount on mp without --log:
// /var/log/torfs/NAME.log for root, else $XDG_STATE_HOME/torfs/NAME.log
// or ~/.local/state/torfs/NAME.log.
func defaultLogPath(mp string) (string, error) {
	file := mountName(mp) + ".log"
	if os.Geteuid() == 0 {
		return filepath.Join("/var/log/torfs", file), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "torfs", file), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no place for the daemon's log: give --log FILE or set $HOME (%w)", err)
	}
	return filepath.Join(home, ".local", "state", "torfs", file), nil
}

// defaultPIDPath is where --daemon writes the PID of the mount on mp
// without --pid-file: NAME.pid beside the register of mounts
// (mountreg.Dir: /run/torfs for root).
func defaultPIDPath(mp string) string {
	return filepath.Join(mountreg.Dir(), mountName(mp)+".pid")
}
