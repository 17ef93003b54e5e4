package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestVersionLine(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/torfs/torfs", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-04T13:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := versionLine(bi, true)
	want := "torfs v1.2.3, revision abc123 of 2026-12-04T13:00:00Z with uncommitted changes (go1.26.0)"
	if got != want {
		t.Errorf("versionLine = %q, want %q", got, want)
	}
	if got := versionLine(nil, false); !strings.HasPrefix(got, "torfs ") {
		t.Errorf("versionLine without build info = %q", got)
	}
}

// TestVersionOfBuiltBinary builds torfs as a user would and checks that
// --version and the version command print the module version and the
// VCS revision the toolchain recorded in the binary (go version -m
// reads them back; a git worktree, for one, gets no revision).
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "torfs")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	recorded, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var modVersion, revision string
	for _, l := range strings.Split(string(recorded), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "mod" && f[1] == "github.com/torfs/torfs":
			modVersion = f[2]
		case len(f) >= 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			revision = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	if modVersion == "" {
		t.Fatalf("go version -m names no module version:\n%s", recorded)
	}
	var lines []string
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.CommandContext(ctx, bin, arg).CombinedOutput()
		if err != nil {
			t.Fatalf("torfs %s: %v\n%s", arg, err, out)
		}
		lines = append(lines, string(out))
	}
	if lines[0] != lines[1] {
		t.Errorf("torfs --version printed %q, torfs version %q", lines[0], lines[1])
	}
	if !strings.HasPrefix(lines[0], "torfs "+modVersion) {
		t.Errorf("torfs --version = %q, want the module version %s first", lines[0], modVersion)
	}
	if revision != "" && !strings.Contains(lines[0], "revision "+revision) {
		t.Errorf("torfs --version = %q: no revision %s", lines[0], revision)
	}
	t.Logf("torfs --version: %s", lines[0])
}
