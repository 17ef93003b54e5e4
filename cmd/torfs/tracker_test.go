package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/tracker"
)

func TestTrackerCommandServesAndStops(t *testing.T) {
	allow := filepath.Join(t.TempDir(), "allow")
	h := [20]byte{1, 2, 3}
	if err := os.WriteFile(allow, []byte("0102030000000000000000000000000000000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testutil.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"tracker", "--listen", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--allow", allow, "--interval", "5m"}, &bytes.Buffer{}, &stderr)
	}()
	re := regexp.MustCompile(`announce=(\S+) udp=(\S+)`)
	var m []string
	deadline := time.Now().Add(10 * time.Second)
	for m == nil {
		m = re.FindStringSubmatch(stderr.String())
		if time.Now().After(deadline) {
			t.Fatalf("no start line; log:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("start should be one line:\n%s", stderr.String())
	}
	var c tracker.Client
	actx, acancel := context.WithTimeout(ctx, 20*time.Second)
	defer acancel()
	for _, url := range m[1:] {
		r, err := c.Announce(actx, url, tracker.AnnounceRequest{InfoHash: h, PeerID: [20]byte{9}, Port: 6881, Left: 1})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if r.Interval != 5*time.Minute {
			t.Fatalf("%s: interval %v", url, r.Interval)
		}
		if _, err := c.Announce(actx, url, tracker.AnnounceRequest{InfoHash: [20]byte{7}, Port: 1}); err == nil {
			t.Fatalf("%s: a hash off the allow list was served", url)
		}
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d after cancel; log:\n%s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tracker did not stop")
	}
}

func TestTrackerCommandBadUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--trusted-proxy", "nonsense"}, 2, "--trusted-proxy"},
		{[]string{"--store", "mysql://x"}, 2, "--store"},
		{[]string{"--interval", "1ms"}, 2, "--interval"},
		{[]string{"extra"}, 2, "unexpected argument"},
		{[]string{"--allow", missing}, 1, "allow list"},
		{[]string{"--listen", "256.0.0.1:1"}, 1, "cannot listen"},
	} {
		var stderr bytes.Buffer
		got := run(context.Background(), append([]string{"tracker"}, tc.args...), &bytes.Buffer{}, &stderr)
		if got != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, got, stderr.String(), tc.code, tc.want)
		}
	}
	var stdout bytes.Buffer
	if got := run(context.Background(), []string{"tracker", "--help"}, &stdout, &bytes.Buffer{}); got != 0 || !strings.Contains(stdout.String(), "Examples:") {
		t.Errorf("--help: exit %d, %q", got, stdout.String())
	}
}
