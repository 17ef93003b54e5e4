package main

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// seedLimits are --seed-ratio and --seed-time: when get and seed stop
// seeding on their own.
type seedLimits struct {
	ratio float64
	time  time.Duration
}

func (l *seedLimits) register(fs *flag.FlagSet) {
	fs.Func("seed-ratio", "stop seeding once uploaded/size reaches R", func(s string) error {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("want a positive number such as 1 or 2.5, got %q", s)
		}
		l.ratio = r
		return nil
	})
	fs.Func("seed-time", "stop seeding after DURATION", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 30m or 2h, got %q", s)
		}
		l.time = d
		return nil
	})
}

// set reports whether any limit was given.
func (l seedLimits) set() bool { return l.ratio > 0 || l.time > 0 }

// String says when seeding stops: "at ratio 1 or after 2h0m0s".
func (l seedLimits) String() string {
	var parts []string
	if l.ratio > 0 {
		parts = append(parts, "at ratio "+strconv.FormatFloat(l.ratio, 'g', -1, 64))
	}
	if l.time > 0 {
		parts = append(parts, "after "+l.time.String())
	}
	return strings.Join(parts, " or ")
}

// reached returns why seeding should stop, having uploaded uploaded
// bytes of a torrent of size bytes for elapsed, or "" to go on.
func (l seedLimits) reached(uploaded, size int64, elapsed time.Duration) string {
	if l.ratio > 0 && size > 0 && float64(uploaded) >= l.ratio*float64(size) {
		return fmt.Sprintf("ratio %.2f reached", float64(uploaded)/float64(size))
	}
	if l.time > 0 && elapsed >= l.time {
		return fmt.Sprintf("seeded for %v", l.time)
	}
	return ""
}
