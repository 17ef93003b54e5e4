package fs

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/torfs/torfs/metainfo"
)

// Options configure how a torrent is presented.
type Options struct {
	// Logger receives a line for every read that fails; nil discards.
	Logger *slog.Logger
	// ModTime is the modification time of every file and directory,
	// usually the torrent's creation date; the zero value (a torrent
	// without one, or a magnet link's) means the time it is added.
	ModTime time.Time
	// StatusURL, when set, is served as XattrStatus on the torrent's
	// directory (for a single-torrent mount: the mount root).
	StatusURL string
	// Space, when set, returns the bytes the torrent's cache holds and
	// its budget (0 = unlimited), which statfs (df) reports as the
	// mount's size and free space.
	Space func() (used, budget int64)
}

// torrentState is what every node of one torrent's tree shares.
type torrentState struct {
	t     Torrent
	info  *metainfo.Info
	log   *slog.Logger
	mtime time.Time
	// status is Options.StatusURL.
	status string
	// spaceFn is Options.Space.
	spaceFn func() (used, budget int64)
}

func newTorrentState(t Torrent, opts Options) *torrentState {
	st := &torrentState{t: t, info: t.Info(), log: opts.Logger, mtime: opts.ModTime, status: opts.StatusURL, spaceFn: opts.Space}
	if st.log == nil {
		st.log = slog.New(slog.DiscardHandler)
	}
	if st.mtime.IsZero() {
		st.mtime = time.Now()
	}
	return st
}

// progress sums the verified bytes and the sizes of the given files.
func (st *torrentState) progress(files []int) (verified, total int64) {
	for _, i := range files {
		f := &st.info.Files[i]
		verified += st.t.VerifiedBytes(f.Offset, f.Length)
		total += f.Length
	}
	return verified, total
}

func (st *torrentState) setTimes(a *fuse.Attr) {
	a.SetTimes(&st.mtime, &st.mtime, &st.mtime)
}

// TorrentDir is the directory that shows one torrent's tree: the file of
// a single-file torrent, or the contents of a multi-file torrent's Name
// directory. It is the root of a single-torrent mount; a Root holds one
// per torrent.
type TorrentDir struct {
	dir
}

var _ = (fusefs.NodeOnAdder)((*TorrentDir)(nil))

// NewTorrentDir returns the directory presenting t. Its tree is built
// once, when it is added to a mounted file system.
func NewTorrentDir(t Torrent, opts Options) *TorrentDir {
	return &TorrentDir{dir{st: newTorrentState(t, opts), isTorrentRoot: true}}
}

// OnAdd builds the whole tree up front: a torrent's file list never
// changes, so persistent inodes make it the source of truth and spare
// the kernel round trips on lookups.
func (d *TorrentDir) OnAdd(ctx context.Context) {
	d.files = buildTree(ctx, d.st, d.EmbeddedInode())
}

// progressAll sums the progress of every file of the torrent.
func (d *TorrentDir) progressAll() (verified, total int64) { return d.st.progress(d.files) }

// buildTree adds every file of st's torrent below top, creating the
// directories between, and returns the files added (for top's progress).
func buildTree(ctx context.Context, st *torrentState, top *fusefs.Inode) []int {
	var all []int
	for i := range st.info.Files {
		f := &st.info.Files[i]
		if f.Pad || len(f.Path) == 0 {
			continue
		}
		if addFile(ctx, st, top, i, f) {
			all = append(all, i)
		}
	}
	return all
}

// addFile adds file i below top, creating its parent directories, and
// reports whether it was added.
func addFile(ctx context.Context, st *torrentState, top *fusefs.Inode, i int, f *metainfo.File) bool {
	var dirs []*dir
	parent := top
	for _, name := range f.Path[:len(f.Path)-1] {
		ch := parent.GetChild(name)
		if ch == nil {
			ch = parent.NewPersistentInode(ctx, &dir{st: st}, fusefs.StableAttr{Mode: syscall.S_IFDIR})
			parent.AddChild(name, ch, false)
		}
		sub, ok := ch.Operations().(*dir)
		if !ok {
			st.log.Warn("torrent lists a file below another file; hiding it",
				"infohash", st.t.InfoHash(), "path", strings.Join(f.Path, "/"))
			return false
		}
		dirs, parent = append(dirs, sub), ch
	}
	name := f.Path[len(f.Path)-1]
	if parent.GetChild(name) != nil {
		st.log.Warn("torrent lists the same path twice; showing the first",
			"infohash", st.t.InfoHash(), "path", strings.Join(f.Path, "/"))
		return false
	}
	for _, dd := range dirs {
		dd.files = append(dd.files, i)
	}
	var node fusefs.InodeEmbedder = &file{st: st, index: i}
	mode := uint32(syscall.S_IFREG)
	if f.Symlink != nil {
		node, mode = &symlink{st: st, index: i}, syscall.S_IFLNK
	}
	parent.AddChild(name, parent.NewPersistentInode(ctx, node, fusefs.StableAttr{Mode: mode}), false)
	return true
}
