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
// shows, and the space of its cache, for statfs.
type sizer interface {
	size() (bytes, files int64)
	// space is the cache's size and what is free in it (see
	// torrentState.space).
	space() (capacity, free int64)
}

// statfs answers statfs(2) for any node: a read-only file system whose
// size is the cache's budget and whose free space is what the budget has
// left, so df tells how much more the mount can hold without evicting.
func statfs(n *fusefs.Inode, out *fuse.StatfsOut) syscall.Errno {
	s, ok := n.Root().Operations().(sizer)
	if !ok {
		return 0
	}
	_, files := s.size()
	capacity, free := s.space()
	out.Bsize = statfsBlock
	out.Frsize = statfsBlock
	out.Blocks = uint64((capacity + statfsBlock - 1) / statfsBlock)
	out.Bfree = uint64(free / statfsBlock)
	out.Bavail = out.Bfree
	out.Files = uint64(files)
	out.NameLen = 255
	return 0
}

// space is the size of the torrent's cache and what is free in it: its
// budget (at least what it holds), or, for an unlimited cache or none
// known (Options.Space nil: then the cache is taken as full), the
// torrent's size.
func (st *torrentState) space() (capacity, free int64) {
	bytes, _ := st.size()
	if st.spaceFn == nil {
		return bytes, 0
	}
	used, budget := st.spaceFn()
	capacity = bytes
	if budget > 0 {
		capacity = budget
	}
	capacity = max(capacity, used)
	return capacity, capacity - used
}

func (d *TorrentDir) space() (capacity, free int64) { return d.st.space() }

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
