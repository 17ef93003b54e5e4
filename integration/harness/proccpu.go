package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcessCPU returns the user and system CPU time process pid has used
// so far, from /proc/PID/stat.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th, in clock
	// ticks (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return time.Duration(ut+st) * (time.Second / 100), nil
}

// ProcessDiskWrites returns the bytes process pid has sent or will send
// to the disk: /proc/PID/io's write_bytes (pages it dirtied) less its
// cancelled_write_bytes (dirty pages dropped before they were written,
// by a truncate or a punched hole).
func ProcessDiskWrites(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	var written, cancelled int64
	for _, line := range strings.Split(string(b), "\n") {
		name, v, _ := strings.Cut(line, ": ")
		switch name {
		case "write_bytes":
			written, err = strconv.ParseInt(v, 10, 64)
		case "cancelled_write_bytes":
			cancelled, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/io: %w", pid, err)
		}
	}
	return written - cancelled, nil
}
