package main

import (
	"testing"
	"time"
)

func TestSeedLimits(t *testing.T) {
	fs := newFlagSet("x")
	var l seedLimits
	l.register(fs)
	if _, err := parseFlags(fs, []string{"--seed-ratio", "1.5", "--seed-time", "2h"}); err != nil {
		t.Fatal(err)
	}
	if l.String() != "at ratio 1.5 or after 2h0m0s" {
		t.Errorf("String = %q", l.String())
	}
	for _, c := range []struct {
		up      int64
		elapsed time.Duration
		want    string
	}{
		{149, time.Hour, ""},
		{150, time.Hour, "ratio 1.50 reached"},
		{10, 2 * time.Hour, "seeded for 2h0m0s"},
	} {
		if got := l.reached(c.up, 100, c.elapsed); got != c.want {
			t.Errorf("reached(%d, 100, %v) = %q, want %q", c.up, c.elapsed, got, c.want)
		}
	}
	if (seedLimits{}).set() || (seedLimits{}).reached(1<<40, 1, 1<<40) != "" {
		t.Error("no limit stops seeding")
	}
	for _, bad := range [][]string{{"--seed-ratio", "0"}, {"--seed-ratio", "NaN"}, {"--seed-ratio", "x"}, {"--seed-time", "-1s"}, {"--seed-time", "1"}} {
		fs := newFlagSet("x")
		var l seedLimits
		l.register(fs)
		if _, err := parseFlags(fs, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
