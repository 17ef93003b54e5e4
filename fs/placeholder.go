package fs

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// resolvingFile is ResolvingName: a read-only file whose content is
// whatever the Pending root's Describe says right now.
type resolvingFile struct {
	fusefs.Inode
	readOnly
	p *Pending
}

var (
	_ = (fusefs.NodeGetattrer)((*resolvingFile)(nil))
	_ = (fusefs.NodeOpener)((*resolvingFile)(nil))
	_ = (fusefs.NodeStatfser)((*resolvingFile)(nil))
)

// freshAttr is the attribute timeout of the placeholder: as short as the
// kernel allows (zero would mean the mount's default, an hour), so a
// stat sees the size of the current text.
const freshAttr = time.Nanosecond

// Getattr reports the size of the text as it is now.
func (f *resolvingFile) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	text := f.p.opts.Describe()
	if h, ok := fh.(*resolvingHandle); ok {
		text = h.current()
	}
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = uint64(len(text))
	now := time.Now()
	out.SetTimes(&now, &now, &now)
	out.SetTimeout(freshAttr)
	return 0
}

// Open takes a snapshot of the text. Direct I/O makes every read reach
// us (no page cache to go stale) and makes the kernel ignore the size it
// last saw, so cat prints the whole text even if it grew since the stat.
func (f *resolvingFile) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	return &resolvingHandle{describe: f.p.opts.Describe, text: f.p.opts.Describe()}, fuse.FOPEN_DIRECT_IO, 0
}

// Statfs reports the whole mount's sizes.
func (f *resolvingFile) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(f.EmbeddedInode(), out)
}

// resolvingHandle is one open placeholder. A read from offset 0 takes a
// new snapshot, so a program that rereads from the start (tail -f, a
// pread loop) sees the status change; reads further on continue the
// snapshot they started, so one cat never mixes two texts.
type resolvingHandle struct {
	describe func() string

	mu   sync.Mutex
	text string
}

var _ = (fusefs.FileReader)((*resolvingHandle)(nil))

func (h *resolvingHandle) current() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.text
}

// Read serves the snapshot.
func (h *resolvingHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off == 0 {
		h.text = h.describe()
	}
	if off >= int64(len(h.text)) || off < 0 {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData([]byte(h.text[off:min(off+int64(len(dest)), int64(len(h.text)))])), 0
}

// firstLine is s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
