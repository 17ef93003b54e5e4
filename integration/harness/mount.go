package harness

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/mountinfo"
)

// Mounted reports whether dir is a mount point right now (it reads
// /proc/self/mountinfo, so it never blocks on a hung FUSE server).
func Mounted(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, fmt.Errorf("mount point %s: %w", dir, err)
	}
	ms, err := mountinfo.Read()
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.Mountpoint == abs {
			return true, nil
		}
	}
	return false, nil
}

// WaitMounted waits until dir is a mount point, or p (the process serving
// it, may be nil) exits, or ctx ends.
func WaitMounted(ctx context.Context, dir string, p *Process) error {
	for {
		ok, err := Mounted(dir)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		var done <-chan struct{}
		if p != nil {
			done = p.Done()
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before %s was mounted\n%s", p.Name(), dir, p.Output())
		case <-ctx.Done():
			msg := ""
			if p != nil {
				msg = "\n" + p.Output()
			}
			return fmt.Errorf("%s not mounted: %w%s", dir, ctx.Err(), msg)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// CleanupMount makes sure dir is not left mounted when the test ends,
// whatever happened: a lazy `fusermount3 -u -z` (then `umount -l`) if it
// still is. Cleanups run last-registered first, so call CleanupMount
// before starting the process that mounts: that process is then stopped
// first and gets its chance to unmount cleanly.
func CleanupMount(tb testing.TB, dir string) {
	tb.Helper()
	tb.Cleanup(func() {
		ok, err := Mounted(dir)
		if err != nil {
			tb.Error(err)
			return
		}
		if !ok {
			return
		}
		tb.Logf("%s was still mounted at the end of the test; unmounting it", dir)
		if err := Unmount(dir); err != nil {
			tb.Error(err)
		}
	})
}

// Unmount detaches the mount at dir lazily (it works even when the FUSE
// server is gone or hung).
func Unmount(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "fusermount3", "-u", "-z", dir).CombinedOutput()
	if err == nil {
		return nil
	}
	out2, err2 := exec.CommandContext(ctx, "umount", "-l", dir).CombinedOutput()
	if err2 == nil {
		return nil
	}
	return fmt.Errorf("unmount %s: fusermount3: %v %s; umount: %v %s", dir, err, out, err2, out2)
}
