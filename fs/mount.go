package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// MaxRead is the largest read the mount asks of the kernel (max_read and
// readahead), the kernel's own maximum request size.
const MaxRead = 1 << 20

// fsType is the name mount tables show ("fuse.torfs"); it is how a stale
// mount of ours is told from someone else's.
const fsType = "torfs"

// MountOptions configure a mount.
type MountOptions struct {
	// AllowOther lets other users see the mount (-o allow_other; a
	// normal user needs user_allow_other in /etc/fuse.conf).
	AllowOther bool
	// Source is what mount tables show as the mounted device, such as
	// the torrent's name; default "torfs".
	Source string
	// Timeout is how long the kernel may cache names and attributes; the
	// tree never changes, so the default is an hour.
	Timeout time.Duration
	// Logger receives mount and unmount events; nil discards.
	Logger *slog.Logger
	// Debug logs every FUSE request (very verbose).
	Debug bool
	// KernelReadahead is how far ahead the kernel reads on its own for a
	// sequential reader (the mount's read_ahead_kb, settable as root);
	// default DefaultKernelReadahead. The kernel's own default, 128 KiB,
	// leaves a streaming reader waiting on a round trip every 128 KiB.
	KernelReadahead int
}

// DefaultKernelReadahead is MountOptions.KernelReadahead's default.
const DefaultKernelReadahead = 4 << 20

// Server serves one mounted file system.
type Server struct {
	dir    string
	server *fuse.Server
	log    *slog.Logger
	done   chan struct{}

	detachMu sync.Mutex
	detached bool // off the mountpoint
	lazy     bool // detached while busy
}

// Mount mounts root (a *TorrentDir or a *Root) read-only on dir and
// serves it until it is unmounted. As root it mounts directly, otherwise
// through fusermount3. A stale mount of torfs left on dir by a killed
// process is cleared first; anything else mounted there is an error.
func Mount(dir string, root fusefs.InodeEmbedder, opts MountOptions) (*Server, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mountpoint %s: %w", dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := checkMountpoint(dir, log, statfsWait); err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Hour
	}
	negative := min(timeout, time.Minute)
	source := opts.Source
	if source == "" {
		source = fsType
	}
	fopts := &fusefs.Options{
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &negative,
		UID:             uint32(os.Getuid()),
		GID:             uint32(os.Getgid()),
		MountOptions: fuse.MountOptions{
			AllowOther:   opts.AllowOther,
			FsName:       source,
			Name:         fsType,
			Options:      []string{"ro", "default_permissions"},
			MaxWrite:     MaxRead,
			MaxReadAhead: MaxRead,
			// Synchronous reads: the kernel then sends its readahead
			// from the reading process, so a signal interrupts it.
			// Asynchronous readahead is never interrupted: a reader
			// killed while its piece is missing would hang in D state
			// until the piece arrived, holding the handle open. The
			// engine does its own readahead, so little is lost.
			SyncRead:    true,
			DirectMount: os.Geteuid() == 0,
			// Reads return bytes, never file descriptors: splicing the
			// cache's file to the kernel measured slower on warm reads
			// (0.8x of copying, at 128 and 512 KiB reads) and would fail
			// for 1 MiB reads (over the pipe size), logging a line each.
			DisableSplice:        true,
			IgnoreSecurityLabels: true,
			EnableSymlinkCaching: true,
			Debug:                opts.Debug,
			// go-fuse's own diagnostics, visible with debug logging.
			Logger: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	server, err := fuse.NewServer(fusefs.NewNodeFS(root, fopts), dir, &fopts.MountOptions)
	if err != nil {
		return nil, explainMountError(dir, opts, err)
	}
	fuseCloseOnExec()
	m := &Server{dir: dir, server: server, log: log, done: make(chan struct{})}
	go func() {
		server.Serve()
		close(m.done)
	}()
	if err := server.WaitMount(); err != nil {
		_, _ = unmount(dir)
		return nil, fmt.Errorf("mounting on %s: %w", dir, err)
	}
	ra := opts.KernelReadahead
	if ra == 0 {
		ra = DefaultKernelReadahead
	}
	if err := setReadahead(dir, ra); err != nil {
		log.Debug("kernel readahead left at its default", "dir", dir, "err", err)
	}
	log.Info("mounted", "dir", dir)
	return m, nil
}

// Dir is the absolute mountpoint.
func (m *Server) Dir() string { return m.dir }

// Done is closed once the file system is no longer served: unmounted by
// Unmount, by fusermount3 -u or umount, or aborted.
func (m *Server) Done() <-chan struct{} { return m.done }

// ErrInUse reports a file system that is off its mountpoint but still
// served: files are open in it, or another mount namespace holds a copy
// of the mount (one made while it was mounted, by unshare or a container
// runtime). Stopping the server anyway leaves those users with "Transport
// endpoint is not connected"; the mountpoint itself is already free.
var ErrInUse = errors.New("the file system is still in use (files open in it, or mounted in another mount namespace)")

// Unmount takes the file system off its mountpoint (see Detach) and waits
// until it is no longer served. When ctx ends first it returns an error
// wrapping ErrInUse and ctx's error; the mountpoint is free either way.
func (m *Server) Unmount(ctx context.Context) error {
	if _, err := m.Detach(); err != nil {
		return err
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("unmounting %s: %w: %w", m.dir, ErrInUse, ctx.Err())
	}
}

// Detach takes the file system off its mountpoint at once, without
// waiting for anything: unmounted outright when nothing uses it, or, when
// it is busy (a file open in it, a working directory inside it), detached
// lazily, which lazy reports: the mountpoint is free now, the open files
// keep working and Done is closed once the last one is closed. Either
// way the server stops once the kernel lets go of the file system, which
// a copy of the mount in another mount namespace delays until it goes
// too. Detach may be called more than once.
func (m *Server) Detach() (lazy bool, err error) {
	m.detachMu.Lock()
	defer m.detachMu.Unlock()
	select {
	case <-m.done:
		return false, nil
	default:
	}
	if m.detached {
		return m.lazy, nil
	}
	lazy, err = unmount(m.dir)
	if err != nil {
		return false, fmt.Errorf("unmounting %s: %w (close the programs using it, then run 'fusermount3 -u %s')", m.dir, err, m.dir)
	}
	m.detached, m.lazy = true, lazy
	if lazy {
		m.log.Info("files are still open in the mount: detached it; they keep working until they are closed", "dir", m.dir)
	} else {
		m.log.Info("unmounted", "dir", m.dir)
	}
	return lazy, nil
}

// unmount unmounts dir, lazily (lazy true) when it is busy. It never
// waits for the file system's users or its server.
func unmount(dir string) (lazy bool, err error) {
	if os.Geteuid() == 0 {
		err := syscall.Unmount(dir, 0)
		switch {
		case err == nil, errors.Is(err, syscall.EINVAL) && mountType(dir) == "":
			// EINVAL: no longer a mountpoint; someone got there first.
			return false, nil
		case errors.Is(err, syscall.EBUSY):
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				return false, fmt.Errorf("umount -l: %w", err)
			}
			return true, nil
		}
		// EPERM and the like (root without the capability in this mount
		// namespace): fusermount3 may still do it.
	}
	out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
	if err == nil {
		return false, nil
	}
	if mountType(dir) == "" {
		return false, nil
	}
	if lerr := detach(dir); lerr != nil {
		return false, fmt.Errorf("fusermount3 -u: %w: %s; %w", err, bytes.TrimSpace(out), lerr)
	}
	return true, nil
}

// detach lazily unmounts dir: it leaves the namespace at once and is
// torn down when the last open file is closed.
func detach(dir string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err == nil || errors.Is(err, syscall.EINVAL) {
			// EINVAL: no longer a mountpoint, someone else got there first.
			return nil
		}
	}
	out, err := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// fuseCloseOnExec marks this process's /dev/fuse descriptors
// close-on-exec. go-fuse opens the one of a direct mount without the flag,
// so every program started while mounted (fusermount3, a test's cat)
// would hold the connection open: killed, torfs would then leave a mount
// that hangs instead of one that fails at once and can be cleared.
func fuseCloseOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "/dev/fuse" {
			syscall.CloseOnExec(fd)
		}
	}
}
