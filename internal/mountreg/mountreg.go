// Package mountreg keeps the register of running torfs mounts: each
// mount writes a small JSON file, named for its process, into a runtime
// directory while it is live and removes it on exit, so that `torfs
// list` finds every mount and `torfs umount` the process serving one. A
// file whose process is gone (killed) is stale: List ignores and removes
// it.
package mountreg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/torfs/torfs/internal/atomicfile"
)

// Entry is one running mount.
type Entry struct {
	PID int `json:"pid"`
	// Start is the process's start time (clock ticks since boot, from
	// /proc/PID/stat), so that a pid reused by another process is not
	// taken for the mount's.
	Start      uint64   `json:"start"`
	Mountpoint string   `json:"mountpoint"`
	Source     string   `json:"source"`
	StatusURL  string   `json:"status_url"`
	Torrents   []string `json:"torrents"`
}

// Dir is the register's directory: $XDG_RUNTIME_DIR/torfs when set,
// /run/torfs for root, else torfs-UID in the temporary directory.
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "torfs")
	}
	if os.Geteuid() == 0 {
		return "/run/torfs"
	}
	return filepath.Join(os.TempDir(), "torfs-"+strconv.Itoa(os.Geteuid()))
}

// Register records e (its PID and Start filled in for this process) in
// dir and returns the function that removes it.
func Register(dir string, e Entry) (remove func(), err error) {
	e.PID = os.Getpid()
	if e.Start, err = startTime(e.PID); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("registering the mount: %w", err)
	}
	if err := checkOwned(dir); err != nil {
		return nil, fmt.Errorf("registering the mount: %w", err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fileName(e.PID))
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("registering the mount: %w", err)
	}
	return func() { _ = os.Remove(path) }, nil
}

func fileName(pid int) string { return "mount-" + strconv.Itoa(pid) + ".json" }

// List returns the live mounts registered in dir, by mountpoint. It
// removes the files of processes that are gone. A missing dir is no
// mount at all.
func List(dir string) ([]Entry, error) {
	if err := checkOwned(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading the register of mounts: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "mount-*.json"))
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, path := range names {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile: that mount ended
		}
		if err != nil {
			return nil, fmt.Errorf("reading the register of mounts: %w", err)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil || e.PID <= 0 {
			// Half a file cannot happen (atomic writes): something
			// else wrote it. Leave it alone.
			continue
		}
		if !Alive(e) {
			_ = os.Remove(path)
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mountpoint < out[j].Mountpoint })
	return out, nil
}

// checkOwned refuses a register that is not a directory of ours: in a
// shared temporary directory another user could have made it, and its
// records would name the processes torfs umount signals.
func checkOwned(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is not a directory that only this user may write to: remove it", dir)
	}
	return nil
}

// Alive reports whether e's process still runs.
func Alive(e Entry) bool {
	st, err := startTime(e.PID)
	return err == nil && st == e.Start
}

// startTime reads the start time of process pid from /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses,
	// so the fields are counted from the last ')'. starttime is field
	// 22, the 20th after comm.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
