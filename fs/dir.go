package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dir is a directory of a torrent's tree. Its children are persistent
// inodes added once by TorrentDir.OnAdd, so go-fuse answers lookups and
// readdir from the tree itself.
type dir struct {
	fusefs.Inode
	readOnly
	st *torrentState
	// files lists every file below the directory (indices into
	// Info.Files), for its progress attribute. Filled while the tree is
	// built, read-only afterwards.
	files []int
	// isTorrentRoot marks the directory that shows the whole torrent.
	isTorrentRoot bool
}

var (
	_ = (fusefs.NodeGetattrer)((*dir)(nil))
	_ = (fusefs.NodeGetxattrer)((*dir)(nil))
	_ = (fusefs.NodeListxattrer)((*dir)(nil))
)

// Getattr reports a read-only directory.
func (d *dir) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	d.st.setTimes(&out.Attr)
	return 0
}

// Getxattr serves the progress of every file below the directory and,
// on the torrent's directory, its info-hash.
func (d *dir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	switch {
	case attr == XattrProgress:
		return xattrReply(progressValue(d.st.progress(d.files)), dest)
	case attr == XattrInfoHash && d.isTorrentRoot:
		return xattrReply([]byte(d.st.t.InfoHash().String()), dest)
	case attr == XattrStatus && d.isTorrentRoot && d.st.status != "":
		return xattrReply([]byte(d.st.status), dest)
	}
	return 0, fusefs.ENOATTR
}

// Listxattr names the attributes Getxattr serves.
func (d *dir) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	switch {
	case d.isTorrentRoot && d.st.status != "":
		return xattrList(dest, XattrInfoHash, XattrProgress, XattrStatus)
	case d.isTorrentRoot:
		return xattrList(dest, XattrInfoHash, XattrProgress)
	}
	return xattrList(dest, XattrProgress)
}
