package fs

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/torfs/torfs/metainfo"
)

// ResolvingName is the file a Pending mount shows until its torrent is
// known.
const ResolvingName = ".torfs-resolving"

// StateReady is XattrState once a Pending mount shows its torrent.
const StateReady = "ready"

// PendingOptions configure a Pending root.
type PendingOptions struct {
	// InfoHash is the torrent's info-hash, known before its metadata.
	InfoHash metainfo.Hash
	// Describe returns the content of ResolvingName: what is being done
	// to find the torrent. It is called on every open and every read from
	// the start of the file, so it should be cheap. Its first line is
	// also served as XattrState.
	Describe func() string
	// StatusURL, when set, is served as XattrStatus on the root.
	StatusURL string
}

// Pending is the directory of a torrent not known yet, a magnet link
// whose metadata is still being fetched: the root of a single-torrent
// mount, or one directory of a Root (Root.AddPending). Until
// Show is called it holds one read-only file, ResolvingName, saying what
// is happening; Show replaces that file with the torrent's tree, telling
// the kernel so that a listing shows the files at once.
type Pending struct {
	fusefs.Inode
	readOnly
	opts  PendingOptions
	mtime time.Time

	mu          sync.Mutex
	mounted     bool
	placeholder *fusefs.Inode // while not shown and mounted
	st          *torrentState // nil until Show
	files       []int         // every file of the tree, once shown
}

var (
	_ = (fusefs.NodeOnAdder)((*Pending)(nil))
	_ = (fusefs.NodeLookuper)((*Pending)(nil))
	_ = (fusefs.NodeGetattrer)((*Pending)(nil))
	_ = (fusefs.NodeGetxattrer)((*Pending)(nil))
	_ = (fusefs.NodeListxattrer)((*Pending)(nil))
	_ = (fusefs.NodeStatfser)((*Pending)(nil))
)

// NewPending returns a root that shows ResolvingName until Show.
func NewPending(opts PendingOptions) *Pending {
	if opts.Describe == nil {
		opts.Describe = func() string { return "resolving metadata\n" }
	}
	return &Pending{opts: opts, mtime: time.Now()}
}

// OnAdd shows the placeholder, or the tree when Show came first.
func (p *Pending) OnAdd(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mounted = true
	if p.st != nil {
		p.files = buildTree(ctx, p.st, p.EmbeddedInode())
		return
	}
	p.placeholder = p.NewPersistentInode(ctx, &resolvingFile{p: p}, fusefs.StableAttr{Mode: syscall.S_IFREG})
	p.AddChild(ResolvingName, p.placeholder, false)
}

// Show replaces the placeholder with t's tree. It can be called once.
func (p *Pending) Show(t Torrent, opts Options) error {
	if opts.StatusURL == "" {
		opts.StatusURL = p.opts.StatusURL
	}
	p.mu.Lock()
	if p.st != nil {
		p.mu.Unlock()
		return errors.New("the torrent is already shown")
	}
	p.st = newTorrentState(t, opts)
	if !p.mounted {
		p.mu.Unlock()
		return nil
	}
	placeholder := p.placeholder
	p.placeholder = nil
	p.RmChild(ResolvingName)
	p.files = buildTree(context.Background(), p.st, p.EmbeddedInode())
	var names []string
	for name := range p.Children() {
		names = append(names, name)
	}
	p.mu.Unlock()

	// The kernel caches entries for an hour, absent names for a minute
	// and the listing as long as it likes: tell it what changed, outside
	// the lock, since it may wait on our replies to lookups meanwhile.
	// ENOENT only means the kernel had nothing cached.
	log := p.st.log
	if errno := p.NotifyDelete(ResolvingName, placeholder); errno != 0 && errno != syscall.ENOENT {
		log.Warn("telling the kernel the placeholder is gone", "err", errno)
	}
	placeholder.ForgetPersistent()
	for _, name := range names {
		if errno := p.NotifyEntry(name); errno != 0 && errno != syscall.ENOENT {
			log.Warn("telling the kernel of a new file", "name", name, "err", errno)
		}
	}
	if errno := p.NotifyContent(0, 0); errno != 0 && errno != syscall.ENOENT {
		log.Warn("telling the kernel the mount's root changed", "err", errno)
	}
	return nil
}

// shown returns the torrent's state and files once Show was called.
func (p *Pending) shown() (*torrentState, []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st, p.files
}

// Lookup answers from the tree, as go-fuse would, but keeps the kernel
// from caching the placeholder's size: it changes with every status.
func (p *Pending) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	ch := p.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	if ga, ok := ch.Operations().(fusefs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if errno := ga.Getattr(ctx, nil, &a); errno != 0 {
			return nil, errno
		}
		out.Attr = a.Attr
		if a.Timeout() != 0 {
			out.SetAttrTimeout(a.Timeout())
		}
	}
	return ch, 0
}

// Getattr reports a read-only directory.
func (p *Pending) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	out.SetTimes(&p.mtime, &p.mtime, &p.mtime)
	return 0
}

// Getxattr serves the info-hash, the progress (0/0 until the torrent is
// known), the status page and the state: the placeholder's first line
// while resolving, then StateReady.
func (p *Pending) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	st, _ := p.shown()
	switch {
	case attr == XattrInfoHash:
		return xattrReply([]byte(p.opts.InfoHash.String()), dest)
	case attr == XattrProgress:
		return xattrReply(progressValue(p.progressAll()), dest)
	case attr == XattrStatus && p.opts.StatusURL != "":
		return xattrReply([]byte(p.opts.StatusURL), dest)
	case attr == XattrState && st == nil:
		return xattrReply([]byte(firstLine(p.opts.Describe())), dest)
	case attr == XattrState:
		return xattrReply([]byte(StateReady), dest)
	}
	return 0, fusefs.ENOATTR
}

// Listxattr names the attributes Getxattr serves.
func (p *Pending) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if p.opts.StatusURL != "" {
		return xattrList(dest, XattrInfoHash, XattrProgress, XattrState, XattrStatus)
	}
	return xattrList(dest, XattrInfoHash, XattrProgress, XattrState)
}

// Statfs reports the torrent's sizes, nothing while it is not known.
func (p *Pending) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(p.EmbeddedInode(), out)
}

// progressAll is the torrent's progress, 0/0 while it is not known.
func (p *Pending) progressAll() (verified, total int64) {
	st, files := p.shown()
	if st == nil {
		return 0, 0
	}
	return st.progress(files)
}

func (p *Pending) space() (capacity, free int64) {
	if st, _ := p.shown(); st != nil {
		return st.space()
	}
	return 0, 0
}

func (p *Pending) size() (bytes, files int64) {
	if st, _ := p.shown(); st != nil {
		return st.size()
	}
	return 0, 1
}
