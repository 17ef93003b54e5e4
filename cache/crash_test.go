package cache

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const crashChildEnv = "TORFS_CACHE_CRASH_CHILD"

func crashTorrent(t testing.TB) *torrent {
	return newTorrent(t, 50, 32<<10, multiFiles...)
}

// TestCrashChild is the process TestResumeAfterSIGKILL kills: it downloads
// all pieces but the last, records them in the journal as the journaler
// would, says "ready" and keeps rewriting the last piece until it dies.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		return // only meaningful as TestResumeAfterSIGKILL's child
	}
	tt := crashTorrent(t)
	c, err := Open(tt.info, Options{Dir: dir, StateFile: filepath.Join(dir, "state"), SaveInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	last := tt.info.NumPieces() - 1
	for p := range last {
		download(t, c, tt, p)
	}
	// What the journaler does, done here so that "ready" follows it.
	if err := c.flushJournal(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	for {
		if err := c.WriteBlock(last, 0, tt.piece(last)[:1000]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResumeAfterSIGKILL kills a process in the middle of writing: on the
// next Open every piece the journal recorded is served with the right
// bytes, and the piece being written is not trusted.
func TestResumeAfterSIGKILL(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		return
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child did not get ready: %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL mid-write
		t.Fatal(err)
	}
	cmd.Wait()

	tt := crashTorrent(t)
	c := open(t, tt, Options{Dir: dir, StateFile: filepath.Join(dir, "state")})
	last := tt.info.NumPieces() - 1
	for p := range tt.info.NumPieces() {
		if c.Have(p) != (p != last) {
			t.Fatalf("after SIGKILL Have(%d) = %v", p, c.Have(p))
		}
		if c.Unproven(p) {
			t.Fatalf("after SIGKILL piece %d is unproven", p)
		}
	}
	checkRead(t, c, tt, 0, tt.info.PieceOffset(last))
	if ok, err := c.Prove(last); ok || err != nil {
		t.Fatalf("Prove(%d) of the piece being written = %v, %v; want false", last, ok, err)
	}
}
