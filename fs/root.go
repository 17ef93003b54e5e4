package fs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Root is the root of a mount that shows several torrents, one directory
// each. Torrents can be added and removed while it is mounted.
type Root struct {
	fusefs.Inode
	readOnly
	mtime   time.Time
	status  string
	spaceFn func() (used, budget int64) // RootOptions.Space

	mu       sync.Mutex
	mounted  bool
	torrents map[string]shownDir
}

// shownDir is a directory a Root shows: a torrent's, or a Pending one
// waiting for its torrent.
type shownDir interface {
	fusefs.InodeEmbedder
	sizer
	// progressAll sums the verified bytes and the sizes of every file.
	progressAll() (verified, total int64)
}

var (
	_ shownDir = (*TorrentDir)(nil)
	_ shownDir = (*Pending)(nil)
)

var (
	_ = (fusefs.NodeOnAdder)((*Root)(nil))
	_ = (fusefs.NodeGetattrer)((*Root)(nil))
	_ = (fusefs.NodeGetxattrer)((*Root)(nil))
	_ = (fusefs.NodeListxattrer)((*Root)(nil))
	_ = (fusefs.NodeStatfser)((*Root)(nil))
)

// RootOptions configure a Root.
type RootOptions struct {
	// StatusURL, when set, is served as XattrStatus on the root.
	StatusURL string
	// Space, when set, returns the bytes the caches of all the torrents
	// shown hold and the one budget they share, for df; without it, or
	// when it says 0 (no shared budget), each torrent's space adds up.
	Space func() (used, budget int64)
}

// NewRoot returns an empty multi-torrent root.
func NewRoot(opts RootOptions) *Root {
	return &Root{mtime: time.Now(), status: opts.StatusURL, spaceFn: opts.Space, torrents: make(map[string]shownDir)}
}

// Add shows t as the directory name. It fails if name is taken or is not
// a single path component.
func (r *Root) Add(name string, t Torrent, opts Options) error {
	return r.show(name, NewTorrentDir(t, opts))
}

// AddPending shows p as the directory name: a torrent not known yet,
// whose directory holds ResolvingName until p.Show. It fails as Add does.
func (r *Root) AddPending(name string, p *Pending) error {
	return r.show(name, p)
}

func (r *Root) show(name string, d shownDir) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("cannot show a torrent as %q: not a valid file name", name)
	}
	r.mu.Lock()
	if _, ok := r.torrents[name]; ok {
		r.mu.Unlock()
		return fmt.Errorf("a torrent is already shown as %q", name)
	}
	r.torrents[name] = d
	mounted := r.mounted
	if mounted {
		r.attach(context.Background(), name, d)
	}
	r.mu.Unlock()
	if mounted {
		// The kernel may remember that the name did not exist. Notifying
		// outside the lock: the kernel may wait for our replies meanwhile.
		r.NotifyEntry(name)
	}
	return nil
}

// Remove stops showing the directory name. Files still open keep their
// handles; the caller closes the torrent when it no longer wants them
// served.
func (r *Root) Remove(name string) error {
	r.mu.Lock()
	d, ok := r.torrents[name]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("no torrent is shown as %q", name)
	}
	delete(r.torrents, name)
	mounted := r.mounted
	if mounted {
		r.RmChild(name)
	}
	r.mu.Unlock()
	if mounted {
		r.NotifyDelete(name, d.EmbeddedInode())
		forgetTree(d.EmbeddedInode())
	}
	return nil
}

// Names lists the directories shown, sorted.
func (r *Root) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.torrents))
	for n := range r.torrents {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// OnAdd shows the torrents added before the mount.
func (r *Root) OnAdd(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mounted = true
	for name, d := range r.torrents {
		r.attach(ctx, name, d)
	}
}

func (r *Root) attach(ctx context.Context, name string, d shownDir) {
	ch := r.NewPersistentInode(ctx, d, fusefs.StableAttr{Mode: syscall.S_IFDIR})
	r.AddChild(name, ch, false)
}

// forgetTree lets go-fuse drop a removed tree once the kernel forgets it.
func forgetTree(n *fusefs.Inode) {
	for _, ch := range n.Children() {
		forgetTree(ch)
	}
	n.ForgetPersistent()
}

// Getattr reports a read-only directory.
func (r *Root) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	out.SetTimes(&r.mtime, &r.mtime, &r.mtime)
	return 0
}

// Getxattr serves the progress of all torrents together.
func (r *Root) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr == XattrStatus && r.status != "" {
		return xattrReply([]byte(r.status), dest)
	}
	if attr != XattrProgress {
		return 0, fusefs.ENOATTR
	}
	var verified, total int64
	for _, d := range r.dirs() {
		v, t := d.progressAll()
		verified, total = verified+v, total+t
	}
	return xattrReply(progressValue(verified, total), dest)
}

// Listxattr names the attributes Getxattr serves.
func (r *Root) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if r.status != "" {
		return xattrList(dest, XattrProgress, XattrStatus)
	}
	return xattrList(dest, XattrProgress)
}

// Statfs reports the sizes of all torrents shown.
func (r *Root) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(r.EmbeddedInode(), out)
}

func (r *Root) space() (capacity, free int64) {
	if r.spaceFn != nil {
		if used, budget := r.spaceFn(); budget > 0 {
			capacity = max(budget, used)
			return capacity, capacity - used
		}
	}
	for _, d := range r.dirs() {
		c, f := d.space()
		capacity, free = capacity+c, free+f
	}
	return capacity, free
}

func (r *Root) size() (bytes, files int64) {
	for _, d := range r.dirs() {
		b, f := d.size()
		bytes, files = bytes+b, files+f
	}
	return bytes, files
}

func (r *Root) dirs() []shownDir {
	r.mu.Lock()
	defer r.mu.Unlock()
	ds := make([]shownDir, 0, len(r.torrents))
	for _, d := range r.torrents {
		ds = append(ds, d)
	}
	return ds
}
