package fs

import (
	"context"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// file is a regular file of a torrent: a range of the torrent's bytes.
type file struct {
	fusefs.Inode
	readOnly
	st    *torrentState
	index int // into Info.Files
}

var (
	_ = (fusefs.NodeGetattrer)((*file)(nil))
	_ = (fusefs.NodeOpener)((*file)(nil))
	_ = (fusefs.NodeGetxattrer)((*file)(nil))
	_ = (fusefs.NodeListxattrer)((*file)(nil))
	_ = (fusefs.NodeStatfser)((*file)(nil))
)

// Getattr reports the exact size and the BEP 47 executable bit. The
// preferred I/O size is the largest read the mount takes, so programs
// like cat and cp read in large chunks.
func (f *file) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mf := &f.st.info.Files[f.index]
	out.Mode = syscall.S_IFREG | 0o444
	if mf.Executable {
		out.Mode |= 0o111
	}
	out.Nlink = 1
	out.Size = uint64(mf.Length)
	out.Blksize = MaxRead
	out.Blocks = (out.Size + 511) / 512
	f.st.setTimes(&out.Attr)
	return 0
}

// Open refuses writing and gives the handle its own engine Reader. The
// content never changes, so the kernel may keep its page cache across
// opens.
func (f *file) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	return newHandle(f), fuse.FOPEN_KEEP_CACHE, 0
}

// Getxattr serves the file's progress.
func (f *file) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != XattrProgress {
		return 0, fusefs.ENOATTR
	}
	return xattrReply(progressValue(f.st.progress([]int{f.index})), dest)
}

// Listxattr names the attributes Getxattr serves.
func (f *file) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return xattrList(dest, XattrProgress)
}

// Statfs reports the whole mount's sizes.
func (f *file) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(f.EmbeddedInode(), out)
}

// path is the file's path in the torrent, for log lines.
func (f *file) path() string { return strings.Join(f.st.info.Files[f.index].Path, "/") }

// symlink is a BEP 47 symbolic link.
type symlink struct {
	fusefs.Inode
	readOnly
	st    *torrentState
	index int
}

var (
	_ = (fusefs.NodeGetattrer)((*symlink)(nil))
	_ = (fusefs.NodeReadlinker)((*symlink)(nil))
)

// Getattr reports a link whose size is its target's length, as lstat
// does on disk.
func (s *symlink) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(s.target()))
	s.st.setTimes(&out.Attr)
	return 0
}

// Readlink returns the target relative to the link's own directory:
// BEP 47 gives it relative to the torrent root, and a relative link
// keeps working wherever the torrent is mounted.
func (s *symlink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(s.target()), 0
}

func (s *symlink) target() string {
	f := &s.st.info.Files[s.index]
	up := strings.Repeat("../", len(f.Path)-1)
	return up + strings.Join(f.Symlink, "/")
}
