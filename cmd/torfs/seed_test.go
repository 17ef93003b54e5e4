package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// TestSeedLeavesOutAFileOfTheWrongSize seeds a torrent of two files, one
// of which has been cut short: torfs seed reports that file, leaves it
// as it is, and seeds the pieces of the other.
func TestSeedLeavesOutAFileOfTheWrongSize(t *testing.T) {
	src := filepath.Join(t.TempDir(), "set")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	good := bytes.Repeat([]byte("good data "), 6554)[:64<<10]
	for name, data := range map[string][]byte{"a.bin": good, "b.bin": bytes.Repeat([]byte{7}, 64<<10)} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mi, err := metainfo.Create(ctx, src, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	torrent := filepath.Join(t.TempDir(), "set.torrent")
	if err := os.WriteFile(torrent, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(src, "b.bin")
	if err := os.Truncate(short, 1000); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr testutil.Buffer
	code := make(chan int, 1)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		code <- run(sctx, []string{"seed", "--no-dht", "--listen", "127.0.0.1:0", "--data", src, torrent}, &stdout, &stderr)
	}()
	for !strings.Contains(stdout.String(), "seeding ") {
		select {
		case c := <-code:
			t.Fatalf("torfs seed exited %d before seeding:\n%s", c, stderr.String())
		case <-ctx.Done():
			t.Fatalf("torfs seed never started seeding:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if c := <-code; c != 0 {
		t.Errorf("torfs seed exited %d:\n%s", c, stderr.String())
	}
	if !strings.Contains(stdout.String(), "seeding set (4 of 8 pieces)") {
		t.Errorf("torfs seed does not seed a.bin's 4 pieces:\n%s", stdout.String())
	}
	if want := short + ": 1000 bytes, the torrent says 65536"; !strings.Contains(stderr.String(), want) {
		t.Errorf("torfs seed does not report %q:\n%s", want, stderr.String())
	}
	if fi, err := os.Stat(short); err != nil || fi.Size() != 1000 {
		t.Errorf("the short file was touched: %v, %v", fi.Size(), err)
	}
	if got, err := os.ReadFile(filepath.Join(src, "a.bin")); err != nil || !bytes.Equal(got, good) {
		t.Errorf("a.bin changed: %v", err)
	}
}
