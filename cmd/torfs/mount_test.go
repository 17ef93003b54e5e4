package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseCacheSize(t *testing.T) {
	for in, want := range map[string]int64{"auto": -1, "": -1, "0": 0, "unlimited": 0, "64MiB": 64 << 20, "2G": 2 << 30} {
		got, err := parseCacheSize(in)
		if err != nil || got != want {
			t.Errorf("parseCacheSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseCacheSize("lots"); err == nil {
		t.Error(`parseCacheSize("lots") succeeded`)
	}
}

func TestMountBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{
		{"mount"},
		{"mount", "a.torrent"},
		{"mount", "-o", "nosuid", "a.torrent", "/mnt"},
		{"mount", "--readahead", "0", "a.torrent", "/mnt"},
		{"mount", "--cache-size", "lots", "a.torrent", "/mnt"},
		{"status"},
		{"demo", "a", "b"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("torfs %s: exit %d, want 2\n%s", strings.Join(args, " "), code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "--help") {
			t.Errorf("torfs %s: the error does not point at --help:\n%s", strings.Join(args, " "), stderr.String())
		}
	}
}

func TestStatusOfSomethingElseIsAUserError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"status", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "not a torfs mount") {
		t.Errorf("torfs status on a plain directory: exit %d, %q", code, stderr.String())
	}
}

// The first of SIGINT, SIGTERM or SIGHUP unmounts (ends the context); a
// second one forces the stop.
func TestStopSignals(t *testing.T) {
	for _, first := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		ctx, force, stop := stopSignals(context.Background())
		if err := syscall.Kill(os.Getpid(), first); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%v did not end the mount's context", first)
		}
		select {
		case <-force:
			t.Fatalf("one %v forced the stop", first)
		default:
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-force:
		case <-time.After(20 * time.Second):
			t.Fatalf("a SIGINT after %v did not force the stop", first)
		}
		stop()
	}
}

func TestMountWarnsOfNonEmptyMountpoint(t *testing.T) {
	mnt := t.TempDir()
	torrent := filepath.Join(t.TempDir(), "missing.torrent")
	var stderr bytes.Buffer
	run(context.Background(), []string{"mount", "--no-dht", torrent, mnt}, &bytes.Buffer{}, &stderr)
	if strings.Contains(stderr.String(), "not empty") {
		t.Errorf("an empty mountpoint draws a warning:\n%s", stderr.String())
	}
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(mnt, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stderr.Reset()
	run(context.Background(), []string{"mount", "--no-dht", torrent, mnt}, &bytes.Buffer{}, &stderr)
	if !strings.Contains(stderr.String(), mnt+" is not empty: its 2 entries stay hidden") {
		t.Errorf("no warning that the mount hides 2 entries:\n%s", stderr.String())
	}
}
