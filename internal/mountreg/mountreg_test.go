package mountreg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRegisterListRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "torfs")
	remove, err := Register(dir, Entry{Mountpoint: "/mnt/b", StatusURL: "http://127.0.0.1:1/", Torrents: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	// A stale entry: a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, fileName(cmd.Process.Pid))
	if err := os.WriteFile(stale, []byte(`{"pid":`+itoa(cmd.Process.Pid)+`,"start":1,"mountpoint":"/mnt/a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Our own pid with another start time: a reused pid.
	reused := filepath.Join(dir, "mount-reused.json")
	if err := os.WriteFile(reused, []byte(`{"pid":`+itoa(os.Getpid())+`,"start":1,"mountpoint":"/mnt/c"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Mountpoint != "/mnt/b" || got[0].PID != os.Getpid() || !Alive(got[0]) {
		t.Fatalf("List = %+v, want only /mnt/b of this process", got)
	}
	for _, p := range []string{stale, reused} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the stale entry %s is still there (%v)", p, err)
		}
	}
	remove()
	if got, err := List(dir); err != nil || len(got) != 0 {
		t.Errorf("after remove: %+v, %v", got, err)
	}
	if got, err := List(filepath.Join(t.TempDir(), "none")); err != nil || len(got) != 0 {
		t.Errorf("a missing directory: %+v, %v", got, err)
	}
}

func TestHolders(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "60")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := false
	for _, h := range Holders(dir) {
		if h.PID == cmd.Process.Pid && h.Command == "sleep" {
			found = true
		}
	}
	if !found {
		t.Errorf("Holders(%s) = %+v, want sleep (pid %d)", dir, Holders(dir), cmd.Process.Pid)
	}
	if hs := Holders(filepath.Join(dir, "elsewhere")); len(hs) != 0 {
		t.Errorf("Holders of a directory nobody uses: %+v", hs)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRegisterRefusesAWritableDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "torfs")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(dir, Entry{Mountpoint: "/mnt/x"}); err == nil {
		t.Error("Register wrote into a directory anyone may write to")
	}
	if _, err := List(dir); err == nil {
		t.Error("List trusted a directory anyone may write to")
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	if _, err := List(link); err == nil {
		t.Error("List followed a symbolic link")
	}
}
