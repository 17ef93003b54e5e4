package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statfsBlock is the block size statfs reports: the largest read the
// mount takes, the useful unit of transfer.
const statfsBlock = 1 << 20

// sizer is implemented by the root of a mount: the bytes and files it
// shows, for statfs.
type sizer interface {
	size() (bytes, files int64)
}

// statfs answers statfs(2) for any node: a full, read-only file system
// as large as the torrents it shows.
func statfs(n *fusefs.Inode, out *fuse.StatfsOut) syscall.Errno {
	s, ok := n.Root().Operations().(sizer)
	if !ok {
		return 0
	}
	bytes, files := s.size()
	out.Bsize = statfsBlock
	out.Frsize = statfsBlock
	out.Blocks = uint64((bytes + statfsBlock - 1) / statfsBlock)
	out.Files = uint64(files)
	out.NameLen = 255
	return 0
}

// size counts the bytes and entries of the torrent, pad files excluded.
func (st *torrentState) size() (bytes, files int64) {
	for i := range st.info.Files {
		if f := &st.info.Files[i]; !f.Pad {
			bytes += f.Length
			files++
		}
	}
	return bytes, files
}

func (d *TorrentDir) size() (bytes, files int64) { return d.st.size() }

var _ = (fusefs.NodeStatfser)((*dir)(nil))

// Statfs reports the whole mount's sizes.
func (d *dir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(d.EmbeddedInode(), out)
}
