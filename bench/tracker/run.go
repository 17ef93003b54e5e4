package main

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type plan struct {
	conns, small, large, peers int
	requests, closeRequests    int
	phaseTimeout               time.Duration
}

// swarmSet is a set of info-hashes, pre-encoded for the query string.
type swarmSet struct {
	name    string
	escaped []string
	hashes  [][20]byte
}

func newSwarmSet(name string, n, salt int) *swarmSet {
	s := &swarmSet{name: name}
	for i := range n {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], uint64(salt))
		binary.BigEndian.PutUint64(b[8:], uint64(i))
		h := sha1.Sum(b[:])
		s.hashes = append(s.hashes, h)
		s.escaped = append(s.escaped, escape(h[:]))
	}
	return s
}

// phaseResult is one measured phase against one tracker.
type phaseResult struct {
	name             string
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration
	cpu              time.Duration // tracker's user+system time
	rss              int64         // tracker's resident set after the phase
}

func (r phaseResult) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }
func (r phaseResult) cpuPerReq() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func run(ctx context.Context, p plan, torfsBin, otBin, only string) error {
	dir, err := os.MkdirTemp("", "tracker-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// opentracker drops to user nobody after chrooting here: it must be
	// able to read the whitelist.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	small := newSwarmSet(fmt.Sprintf("%d swarms", p.small), p.small, 1)
	large := newSwarmSet(fmt.Sprintf("%d swarms", p.large), p.large, 2)
	var wl strings.Builder
	for _, set := range []*swarmSet{small, large} {
		for _, h := range set.hashes {
			wl.WriteString(hex.EncodeToString(h[:]) + "\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(wl.String()), 0o644); err != nil {
		return err
	}
	fmt.Printf("tracker load: %d connections, %d peers a swarm, loopback, HTTP announces (compact, numwant default)\n\n", p.conns, p.peers)
	results := map[string][]phaseResult{}
	names := []string{"torfs", "opentracker"}
	if only != "" {
		names = []string{only}
	}
	for _, name := range names {
		var t *target
		if name == "torfs" {
			t, err = startTorfs(ctx, torfsBin, dir)
		} else {
			t, err = startOpentracker(ctx, otBin, dir, large.escaped[len(large.escaped)-1])
		}
		if err != nil {
			return err
		}
		res, err := runPhases(ctx, p, t, small, large)
		t.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results[name] = res
	}
	report(names, results)
	return nil
}

// runPhases fills the large set (every peer of every swarm announces
// once, keep-alive on: the memory figure), then measures random announces
// on each set with keep-alive on and off.
func runPhases(ctx context.Context, p plan, t *target, small, large *swarmSet) ([]phaseResult, error) {
	var out []phaseResult
	phases := []struct {
		name      string
		set       *swarmSet
		keepAlive bool
		n         int
		fill      bool
	}{
		{"fill " + large.name + " (keep-alive)", large, true, p.large * p.peers, true},
		{large.name + ", keep-alive on", large, true, p.requests, false},
		{large.name + ", keep-alive off", large, false, p.closeRequests, false},
		{small.name + ", keep-alive on", small, true, p.requests, false},
		{small.name + ", keep-alive off", small, false, p.closeRequests, false},
	}
	for _, ph := range phases {
		pctx, cancel := context.WithTimeout(ctx, p.phaseTimeout)
		before, err := readProc(t.pid)
		if err != nil {
			cancel()
			return nil, err
		}
		lr := load(pctx, loadSpec{
			addr: t.addr, set: ph.set, peers: p.peers, conns: p.conns,
			requests: ph.n, keepAlive: ph.keepAlive, fill: ph.fill,
		})
		cancel()
		after, err := readProc(t.pid)
		if err != nil {
			return nil, err
		}
		r := phaseResult{
			name: ph.name, requests: lr.ok, errors: lr.errors, elapsed: lr.elapsed,
			p50: lr.percentile(0.50), p99: lr.percentile(0.99),
			cpu: after.cpu - before.cpu, rss: after.rss,
		}
		fmt.Printf("%-12s %-38s %8d req %6d err %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  cpu %6.1f us/req  rss %6.1f MB\n",
			t.name, r.name, r.requests, r.errors, r.rate(), ms(r.p50), ms(r.p99), us(r.cpuPerReq()), float64(r.rss)/1e6)
		if lr.firstErr != nil {
			fmt.Printf("%-12s   first error: %v\n", "", lr.firstErr)
		}
		out = append(out, r)
		if ph.fill {
			// The resident set right after a million inserts includes
			// memory the runtime has freed but not yet returned; report
			// what it holds once idle too.
			select {
			case <-ctx.Done():
			case <-time.After(settle):
			}
			if s, err := readProc(t.pid); err == nil {
				fmt.Printf("%-12s %-38s rss %6.1f MB after %s idle%s\n", t.name, "held: "+ph.set.name+" x peers", float64(s.rss)/1e6, settle, goMemory(t))
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// settle is how long the tracker idles after the fill before its RSS is
// read again.
const settle = 10 * time.Second

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
func us(d time.Duration) float64 { return float64(d) / 1e3 }

func report(names []string, results map[string][]phaseResult) {
	if len(names) != 2 {
		return
	}
	a, b := results[names[0]], results[names[1]]
	fmt.Printf("\nratios torfs/opentracker (req/s: higher is better; p99, cpu/req, rss: lower is better)\n")
	for i := range a {
		fmt.Printf("  %-38s req/s %5.2fx  p99 %5.2fx  cpu/req %5.2fx  rss %5.2fx\n", a[i].name,
			a[i].rate()/b[i].rate(), ratio(a[i].p99, b[i].p99), ratio(a[i].cpuPerReq(), b[i].cpuPerReq()),
			float64(a[i].rss)/float64(b[i].rss))
	}
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// escape percent-encodes all but unreserved bytes; url.QueryEscape's '+'
// for a space is not understood by opentracker.
func escape(raw []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range raw {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// goMemory summarises a torfs tracker's Go runtime memory from its
// /metrics, to tell the Go heap from the peer slabs; "" for others.
func goMemory(t *target) string {
	if t.name != "torfs" {
		return ""
	}
	resp, err := http.Get("http://" + t.addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out strings.Builder
	for _, line := range strings.Split(string(body), "\n") {
		for _, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes"} {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				fmt.Fprintf(&out, " %s=%.1fMB", strings.TrimSuffix(strings.TrimPrefix(name, "go_memstats_"), "_bytes"), f/1e6)
			}
		}
	}
	return " (go:" + out.String() + ")"
}

// runExternal loads a tracker someone else started, without measuring
// its process.
func runExternal(ctx context.Context, p plan, addr string, keepAlive bool) error {
	set := newSwarmSet(fmt.Sprintf("%d swarms", p.small), p.small, 1)
	pctx, cancel := context.WithTimeout(ctx, p.phaseTimeout)
	defer cancel()
	lr := load(pctx, loadSpec{addr: addr, set: set, peers: p.peers, conns: p.conns, requests: p.requests, keepAlive: keepAlive})
	fmt.Printf("%s: %d req %d err %.0f req/s p50 %.2f ms p99 %.2f ms\n", addr, lr.ok, lr.errors, float64(lr.ok)/lr.elapsed.Seconds(), ms(lr.percentile(0.5)), ms(lr.percentile(0.99)))
	if lr.firstErr != nil {
		fmt.Printf("first error: %v\n", lr.firstErr)
	}
	return nil
}
