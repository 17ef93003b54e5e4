// Package mountinfo reads the kernel's table of mounts,
// /proc/self/mountinfo. Reading it never blocks, not even on a hung FUSE
// server, unlike stat or statfs of the mountpoint.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Mount is one line of the table.
type Mount struct {
	// Device is the mounted file system's major:minor.
	Device string
	// Mountpoint is the mount's path, unescaped.
	Mountpoint string
	// FSType is the file system type ("fuse.torfs"), "" if the line has
	// none.
	FSType string
}

// Read returns the mounts of this process's mount namespace, in the
// table's order: a mount comes after the ones it is mounted on top of.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	ms, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	return ms, nil
}

func parse(r io.Reader) ([]Mount, error) {
	var ms []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := Mount{Device: fields[2], Mountpoint: Unescape(fields[4])}
		for k := 5; k+1 < len(fields); k++ {
			if fields[k] == "-" {
				m.FSType = fields[k+1]
				break
			}
		}
		ms = append(ms, m)
	}
	return ms, sc.Err()
}

// Top returns the topmost mount on dir, and false when dir is not a
// mountpoint (or the table cannot be read).
func Top(dir string) (Mount, bool) {
	ms, err := Read()
	if err != nil {
		return Mount{}, false
	}
	var top Mount
	found := false
	for _, m := range ms {
		if m.Mountpoint == dir {
			top, found = m, true // later lines are mounted on top
		}
	}
	return top, found
}

// Unescape undoes the octal escapes (\040 for a space, ...) the kernel
// applies to paths in the table.
func Unescape(s string) string {
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
