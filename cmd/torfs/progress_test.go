package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressBarPlain(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressBar(&buf, "hashing", 1<<30)
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock

	clock = clock.Add(time.Second)
	p.Update(100<<20, 1<<30)
	if buf.Len() != 0 {
		t.Fatalf("printed before the interval: %q", buf.String())
	}
	clock = clock.Add(4 * time.Second) // 5 s in, 512 MiB done: 102.4 MiB/s
	p.Update(512<<20, 1<<30)
	line := buf.String()
	for _, want := range []string{"hashing:", "50.0%", "512.0 MiB / 1.0 GiB", "102.4 MiB/s", "ETA 5s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	if strings.ContainsAny(line, "\r\x1b") || strings.Count(line, "\n") != 1 {
		t.Errorf("plain output has terminal control characters or several lines: %q", line)
	}
	clock = clock.Add(5 * time.Second)
	p.Update(1<<30, 1<<30)
	p.Finish()
	p.Finish()
	p.Update(1, 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "1.0 GiB in 10s") {
		t.Errorf("output %q: want 2 progress lines and one summary", buf.String())
	}
}

func TestProgressBarShortJobSilent(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressBar(&buf, "hashing", 10)
	p.Update(10, 10)
	p.Finish()
	if buf.Len() != 0 {
		t.Errorf("a job too short to report printed %q", buf.String())
	}
}

func TestProgressBarTTY(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressBar(&buf, "hashing", 1000)
	p.tty, p.width = true, 80
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock
	clock = clock.Add(time.Second)
	p.Update(250, 1000)
	out := buf.String()
	if !strings.HasPrefix(out, "\rhashing [") || !strings.Contains(out, " 25.0%") || !strings.HasSuffix(out, "\x1b[K") {
		t.Errorf("terminal line %q", out)
	}
	if n := len(out) - len("\r\x1b[K"); n > 80 {
		t.Errorf("terminal line is %d columns wide, terminal has 80", n)
	}
	p.Finish()
	if !strings.HasSuffix(buf.String(), "\x1b[K\n") {
		t.Errorf("Finish does not end the line: %q", buf.String())
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		500 * time.Millisecond: "0.5s", 45 * time.Second: "45s", 187 * time.Second: "3m07s", 7500 * time.Second: "2h05m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestProgressSuffixAndRatio(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Unix(0, 0)
	p := newProgressBar(&buf, "film (3 peers)", 100<<20)
	p.now = func() time.Time { return clock }
	p.start, p.last = clock, clock
	p.SetSuffix("up 1.0 MiB/s  ratio " + ratio(50, 200))
	clock = clock.Add(10 * time.Second)
	p.Update(50<<20, 100<<20)
	for _, want := range []string{"film (3 peers):", "5.0 MiB/s", "ETA 10s", "up 1.0 MiB/s  ratio 0.25"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("progress line %q lacks %q", buf.String(), want)
		}
	}
	if got := ratio(5, 0); got != "-" {
		t.Errorf("ratio before any download = %q, want -", got)
	}
}
