package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
