package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUserMessageHasNoPackageNames(t *testing.T) {
	err := errors.New("cache: creating directory for /x/y: cache: sizing z: no space left on device")
	if got, want := userMessage(errors.Join(err)), "creating directory for /x/y: sizing z: no space left on device"; got != want {
		t.Errorf("userMessage = %q, want %q", got, want)
	}
}

// TestGetOntoAFullDisk runs torfs get into a new directory on a full
// file system: it says so without internal names or flags that do not
// exist, and leaves no empty directory behind.
func TestGetOntoAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	enc, _ := testTorrent(t, "big.bin", 600_000)
	torrent := filepath.Join(t.TempDir(), "big.torrent")
	if err := os.WriteFile(torrent, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := unix.Mount("tmpfs", full, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(full, unix.MNT_DETACH) })
	if f, err := os.Create(filepath.Join(full, "fill")); err == nil {
		_, _ = f.Write(make([]byte, 1<<20)) // fails once full, as intended
		f.Close()
	}
	out := filepath.Join(full, "out")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"get", "--no-dht", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:1", "-o", out, torrent}, &stdout, &stderr)
	msg := stderr.String()
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, msg)
	}
	if !strings.Contains(msg, "free some space") {
		t.Errorf("the error does not say to free some space:\n%s", msg)
	}
	for _, bad := range []string{"torfs get: cache:", ": cache:", "budget", "--cache-size"} {
		if strings.Contains(msg, bad) {
			t.Errorf("the error says %q:\n%s", bad, msg)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was left behind (%v)", out, err)
	}
}
