package mountreg

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Holder is a process using files under a directory.
type Holder struct {
	PID     int
	Command string
}

// Holders lists the processes whose working directory, root or open
// files lie under dir, as /proc shows them (other users' processes only
// when allowed). It reads links, never the files, so a hung mount does
// not block it.
func Holders(dir string) []Holder {
	dir = filepath.Clean(dir)
	under := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	procs, _ := os.ReadDir("/proc")
	var out []Holder
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		base := filepath.Join("/proc", d.Name())
		holds := false
		for _, l := range []string{"cwd", "root"} {
			if p, err := os.Readlink(filepath.Join(base, l)); err == nil && under(p) {
				holds = true
			}
		}
		if !holds {
			fds, _ := os.ReadDir(filepath.Join(base, "fd"))
			for _, fd := range fds {
				if p, err := os.Readlink(filepath.Join(base, "fd", fd.Name())); err == nil && under(p) {
					holds = true
					break
				}
			}
		}
		if holds {
			comm, _ := os.ReadFile(filepath.Join(base, "comm"))
			out = append(out, Holder{PID: pid, Command: strings.TrimSpace(string(comm))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}
