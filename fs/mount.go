package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	if err := checkMountpoint(dir, log); err != nil {
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
			// Reads return bytes, never file descriptors: an attempt to
			// splice them would fail for 1 MiB reads (over the pipe size)
			// and log a line for each.
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
		return nil, fmt.Errorf("mounting on %s: %w (is fuse3 installed, and /dev/fuse or the setuid fusermount3 usable by you?)", dir, trimmed{err})
	}
	m := &Server{dir: dir, server: server, log: log, done: make(chan struct{})}
	go func() {
		server.Serve()
		close(m.done)
	}()
	if err := server.WaitMount(); err != nil {
		_ = server.Unmount()
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

// trimmed drops the trailing newline go-fuse leaves in some errors, so
// they fit on the one line the user reads.
type trimmed struct{ err error }

func (t trimmed) Error() string { return strings.TrimSpace(t.err.Error()) }
func (t trimmed) Unwrap() error { return t.err }

// Dir is the absolute mountpoint.
func (m *Server) Dir() string { return m.dir }

// Done is closed once the file system is no longer served: unmounted by
// Unmount, by fusermount3 -u or umount, or aborted.
func (m *Server) Done() <-chan struct{} { return m.done }

// Unmount unmounts the file system. If files are still open it detaches
// it lazily (the name disappears now, the open files keep working) and
// waits until they are closed or ctx ends.
func (m *Server) Unmount(ctx context.Context) error {
	select {
	case <-m.done:
		return nil
	default:
	}
	if err := m.server.Unmount(); err == nil {
		m.log.Info("unmounted", "dir", m.dir)
		return nil
	}
	m.log.Warn("files are still open in the mount: detached it; they keep working, and the mount ends once they are closed", "dir", m.dir)
	if err := detach(m.dir); err != nil {
		return fmt.Errorf("unmounting %s: %w (close the programs using it, then run 'fusermount3 -u %s')", m.dir, err, m.dir)
	}
	select {
	case <-m.done:
		m.log.Info("unmounted", "dir", m.dir)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("unmounting %s: files are still open: %w", m.dir, ctx.Err())
	}
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
		return fmt.Errorf("fusermount3 -u -z: %w: %s", err, out)
	}
	return nil
}
