package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuSample is the machine's CPU time from /proc/stat: whether a
// measurement was bound by CPU (busy near 100%) or by waiting.
type cpuSample struct{ busy, total int64 }

func startCPU() cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	var s cpuSample
	for i, f := range strings.Fields(line)[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		s.total += v
		if i != 3 && i != 4 { // idle, iowait
			s.busy += v
		}
	}
	return s
}

// busyPercent returns the percentage of all cores busy since s.
func (s cpuSample) busyPercent() float64 {
	e := startCPU()
	if e.total == s.total {
		return 0
	}
	return 100 * float64(e.busy-s.busy) / float64(e.total-s.total)
}
