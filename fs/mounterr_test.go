package fs

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestFusermountErrorSaysExitStatus(t *testing.T) {
	for raw, want := range map[string]string{
		"fusermount exited with code 256\n": "fusermount3 failed (exit status 1)",
		"fusermount exited with code 9\n":   "fusermount3 was killed by killed",
		"no such file or directory\n":       "no such file or directory",
	} {
		inner := errors.New(raw)
		err := fusermountError{inner}
		if err.Error() != want {
			t.Errorf("%q reads %q, want %q", raw, err.Error(), want)
		}
		if !errors.Is(err, inner) {
			t.Errorf("%q does not unwrap to go-fuse's error", raw)
		}
	}
}

func TestMountErrorNamesTheCause(t *testing.T) {
	dir := t.TempDir()
	raw := errors.New("fusermount exited with code 256\n")
	err := explainMountError(dir, MountOptions{}, raw)
	msg := err.Error()
	if strings.Contains(msg, "code 256") || !strings.Contains(msg, "mounting on "+dir) || !errors.Is(err, raw) {
		t.Errorf("mount error %q: want the mountpoint, no raw wait status, and go-fuse's error wrapped", msg)
	}
	// FUSE works here (the other tests mount), so no cause is invented.
	if cause := diagnoseMount(dir, MountOptions{}, os.Geteuid() == 0); cause != nil {
		t.Errorf("diagnoseMount on a usable directory: %v", cause)
	}
}
