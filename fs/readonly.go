package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// readOnly answers every operation that would change the file system
// with EROFS. The mount is also read-only in the kernel, which refuses
// most of these before they reach us; this covers the rest and keeps
// go-fuse's defaults (some of which report success) out of the way.
type readOnly struct{}

var (
	_ = (fusefs.NodeSetattrer)(readOnly{})
	_ = (fusefs.NodeCreater)(readOnly{})
	_ = (fusefs.NodeMkdirer)(readOnly{})
	_ = (fusefs.NodeMknoder)(readOnly{})
	_ = (fusefs.NodeLinker)(readOnly{})
	_ = (fusefs.NodeSymlinker)(readOnly{})
	_ = (fusefs.NodeUnlinker)(readOnly{})
	_ = (fusefs.NodeRmdirer)(readOnly{})
	_ = (fusefs.NodeRenamer)(readOnly{})
	_ = (fusefs.NodeSetxattrer)(readOnly{})
	_ = (fusefs.NodeRemovexattrer)(readOnly{})
)

func (readOnly) Setattr(context.Context, fusefs.FileHandle, *fuse.SetAttrIn, *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Create(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}

func (readOnly) Mkdir(context.Context, string, uint32, *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Link(context.Context, fusefs.InodeEmbedder, string, *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Symlink(context.Context, string, string, *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}

func (readOnly) Unlink(context.Context, string) syscall.Errno { return syscall.EROFS }

func (readOnly) Rmdir(context.Context, string) syscall.Errno { return syscall.EROFS }

func (readOnly) Rename(context.Context, string, fusefs.InodeEmbedder, string, uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.EROFS
}

func (readOnly) Removexattr(context.Context, string) syscall.Errno { return syscall.EROFS }
