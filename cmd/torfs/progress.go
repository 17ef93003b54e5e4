package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/torfs/torfs/internal/bytesize"
)

// progressBar reports the progress of a long job (hashing, downloading).
// On a terminal it redraws one line in place — a bar, percent, bytes,
// rate and ETA — at most ten times a second; otherwise (a log file, a
// pipe) it prints a plain line every few seconds so logs stay short.
// Its methods may be called from any goroutine.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	suffix   string // more figures after the ETA (SetSuffix)
	total    int64
	tty      bool
	width    int // terminal columns
	start    time.Time
	last     time.Time // last output
	done     int64
	finished bool
	now      func() time.Time // time source, replaced in tests
}

// Redraw intervals: a terminal line is cheap to redraw, a log line is not.
const (
	ttyInterval   = 100 * time.Millisecond
	plainInterval = 5 * time.Second
)

// newProgressBar returns a bar writing to w for a job of total bytes. It
// draws in place only if w is a terminal.
func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	p := &progressBar{w: w, label: label, total: total, width: 80, now: time.Now}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			p.width = cols
		}
	}
	p.start = p.now()
	p.last = p.start
	return p
}

// Update records that done of total bytes are finished and redraws if
// it is time to.
func (p *progressBar) Update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.done, p.total = done, total
	now := p.now()
	interval := plainInterval
	if p.tty {
		interval = ttyInterval
	}
	if now.Sub(p.last) < interval {
		return
	}
	p.last = now
	p.draw(now)
}

// SetSuffix sets figures shown after the ETA from the next redraw on,
// such as the upload rate and ratio of a download.
func (p *progressBar) SetSuffix(s string) {
	p.mu.Lock()
	p.suffix = s
	p.mu.Unlock()
}

// Finish prints the final state and ends the line. Later calls do
// nothing.
func (p *progressBar) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		return
	}
	p.finished = true
	now := p.now()
	elapsed := now.Sub(p.start)
	line := fmt.Sprintf("%s: %s in %s (%s/s)", p.label, bytesize.Format(p.done), formatDuration(elapsed), bytesize.Format(rate(p.done, elapsed)))
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r%s\x1b[K\n", line)
	case p.last != p.start:
		// A log gets the summary only after progress lines: a job too
		// short to report on needs no report.
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressBar) draw(now time.Time) {
	elapsed := now.Sub(p.start)
	r := rate(p.done, elapsed)
	pct := 0.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	eta := "?"
	if r > 0 && p.total >= p.done {
		eta = formatDuration(time.Duration(float64(p.total-p.done) / float64(r) * float64(time.Second)))
	}
	stats := fmt.Sprintf("%5.1f%%  %s / %s  %s/s  ETA %s", pct, bytesize.Format(p.done), bytesize.Format(p.total), bytesize.Format(r), eta)
	if p.suffix != "" {
		stats += "  " + p.suffix
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", p.label, stats)
		return
	}
	// The bar's width comes from the widest stats text, not the current
	// one, so that it does not jump as the numbers change.
	const statsWidth = 56
	barWidth := p.width - len(p.label) - statsWidth - len(p.suffix) - 4
	bar := ""
	if barWidth >= 10 {
		fill := int(float64(barWidth) * pct / 100)
		bar = " [" + strings.Repeat("#", fill) + strings.Repeat(".", barWidth-fill) + "]"
	}
	fmt.Fprintf(p.w, "\r%s%s %s\x1b[K", p.label, bar, stats)
}

// rate returns bytes per second, 0 before any time has passed.
func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// formatDuration renders a duration for people: "45s", "3m07s", "2h05m".
func formatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}
