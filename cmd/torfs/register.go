package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/torfs/torfs/internal/atomicfile"
	"github.com/torfs/torfs/internal/mountreg"
	"github.com/torfs/torfs/mount"
)

// registerMount records a live mount for torfs list and torfs umount,
// and writes this process's PID to pidFile unless it is "", and returns
// what removes both. A mount that cannot register still runs: only
// those two commands (or whoever reads pidFile) miss it, which the
// warning says.
func registerMount(m mount.Mounted, source, pidFile string, log *slog.Logger) func() {
	dir := mountreg.Dir()
	remove, err := mountreg.Register(dir, mountreg.Entry{
		Mountpoint: m.Mountpoint, Source: source, StatusURL: m.StatusURL, Torrents: m.Torrents,
	})
	if err != nil {
		log.Warn("torfs list and torfs umount will not see this mount", "err", err)
		remove = func() {}
	}
	if pidFile == "" {
		return remove
	}
	removePID, err := writePIDFile(pidFile)
	if err != nil {
		log.Warn("no PID file", "err", err)
		return remove
	}
	return func() { removePID(); remove() }
}

// writePIDFile writes this process's PID to path, creating its
// directory, and returns what removes it again, unless another process
// wrote its own PID there meanwhile.
func writePIDFile(path string) (remove func(), err error) {
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("PID file: %w", err)
	}
	if err := atomicfile.WriteFile(path, pid, 0o644); err != nil {
		return nil, fmt.Errorf("PID file: %w", err)
	}
	return func() {
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, pid) {
			_ = os.Remove(path)
		}
	}, nil
}
