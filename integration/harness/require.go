package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireHint is what a failing Require tells the person running the tests.
const requireHint = "install test dependencies: bash scripts/deps.sh"

// Require fails the test (it does not skip: CI must have everything) when
// one of the programs is missing. Programs are names on PATH ("mktorrent",
// "opentracker", "redis-server", "fusermount3"), absolute paths of files
// that must exist ("/dev/fuse"), or "python3-libtorrent" for the libtorrent
// module under /usr/bin/python3.
func Require(tb testing.TB, programs ...string) {
	tb.Helper()
	for _, prog := range programs {
		if err := lookup(prog); err != nil {
			tb.Fatalf("%s is missing (%v): %s", prog, err, requireHint)
		}
	}
}

func lookup(prog string) error {
	if prog == "python3-libtorrent" {
		out, err := exec.Command(Python, "-c", "import libtorrent").CombinedOutput()
		if err != nil {
			return &exec.Error{Name: Python + " -c 'import libtorrent': " + string(out), Err: err}
		}
		return nil
	}
	if filepath.IsAbs(prog) {
		_, err := os.Stat(prog)
		return err
	}
	_, err := exec.LookPath(prog)
	return err
}
