package fs

import (
	"context"
	"maps"
	"slices"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// listWithDots lists a directory as ls -a expects: "." and ".." first
// (go-fuse lists only the children), then the children by name. At the
// mount's root, ".." is the root itself: what lies above belongs to the
// kernel, which answers a lookup of it without asking us.
func listWithDots(n *fusefs.Inode) (fusefs.DirStream, syscall.Errno) {
	kids := n.Children()
	parent := n
	if _, p := n.Parent(); p != nil {
		parent = p
	}
	list := make([]fuse.DirEntry, 0, len(kids)+2)
	list = append(list,
		fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.StableAttr().Ino},
		fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: parent.StableAttr().Ino})
	for _, name := range slices.Sorted(maps.Keys(kids)) {
		c := kids[name]
		list = append(list, fuse.DirEntry{Name: name, Mode: c.Mode(), Ino: c.StableAttr().Ino})
	}
	return fusefs.NewListDirStream(list), 0
}

var (
	_ = (fusefs.NodeReaddirer)((*dir)(nil))
	_ = (fusefs.NodeReaddirer)((*Root)(nil))
	_ = (fusefs.NodeReaddirer)((*Pending)(nil))
)

// Readdir lists the directory with "." and "..".
func (d *dir) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return listWithDots(d.EmbeddedInode())
}

// Readdir lists the torrents' directories with "." and "..".
func (r *Root) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return listWithDots(r.EmbeddedInode())
}

// Readdir lists the placeholder, or the torrent once shown, with "." and
// "..".
func (p *Pending) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	return listWithDots(p.EmbeddedInode())
}
