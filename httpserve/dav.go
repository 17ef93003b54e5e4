package httpserve

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/webdav"
)

// serveDAV serves the read-only WebDAV tree: OPTIONS, PROPFIND, GET and
// HEAD; every method that would change something is refused before
// webdav sees it (and the file system refuses them again).
func (h *Handler) serveDAV(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		// Set here, or ServeContent would read the file's start to
		// sniff a type.
		w.Header().Set("Content-Type", contentType(path.Base(r.URL.Path)))
	case http.MethodOptions, "PROPFIND":
	default:
		w.Header().Set("Allow", "OPTIONS, PROPFIND, GET, HEAD")
		http.Error(w, "read-only: only OPTIONS, PROPFIND, GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	h.davOnce.Do(func() {
		h.dav = &webdav.Handler{Prefix: "/dav", FileSystem: davFS{h}, LockSystem: webdav.NewMemLS(),
			Logger: func(r *http.Request, err error) {
				if err != nil && !errors.Is(err, os.ErrNotExist) && r.Context().Err() == nil {
					h.log().Debug("webdav", "method", r.Method, "path", r.URL.Path, "err", err)
				}
			}}
	})
	h.dav.ServeHTTP(w, r)
}

// davFS is the WebDAV view of a Handler's Library: one directory per
// torrent, by its Name, holding the torrent's tree. It is read-only.
type davFS struct{ h *Handler }

var _ webdav.FileSystem = davFS{}

func (davFS) Mkdir(context.Context, string, os.FileMode) error { return os.ErrPermission }
func (davFS) RemoveAll(context.Context, string) error          { return os.ErrPermission }
func (davFS) Rename(context.Context, string, string) error     { return os.ErrPermission }

// entry is what a WebDAV path names: the top, or a directory or file
// of a torrent (p "" for the torrent's own directory).
type entry struct {
	t  Torrent
	tr *tree
	p  string
}

// resolve finds what name (slash-separated, from the webdav handler)
// names; ok is false when nothing does.
func (d davFS) resolve(name string) (e entry, ok bool) {
	name = strings.Trim(path.Clean("/"+name), "/")
	if name == "" {
		return entry{}, true
	}
	tn, p, _ := strings.Cut(name, "/")
	for _, t := range d.h.Library.Torrents() {
		if t.Name() == tn {
			tr := d.h.tree(t)
			if _, isFile := tr.files[p]; isFile || tr.isDir(p) {
				return entry{t: t, tr: tr, p: p}, true
			}
			return entry{}, false
		}
	}
	return entry{}, false
}

func (d davFS) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	e, ok := d.resolve(name)
	if !ok {
		return nil, os.ErrNotExist
	}
	return d.info(e), nil
}

// info describes e.
func (d davFS) info(e entry) *fileInfo {
	if e.t == nil {
		var mod time.Time
		for _, t := range d.h.Library.Torrents() {
			if m := t.ModTime(); m.After(mod) {
				mod = m
			}
		}
		return &fileInfo{name: "/", dir: true, mod: mod}
	}
	fi := &fileInfo{name: path.Base(e.p), mod: e.t.ModTime()}
	if e.p == "" {
		fi.name = e.t.Name()
	}
	if i, ok := e.tr.files[e.p]; ok {
		fi.size = e.t.Info().Files[i].Length
		fi.etag = etag(e.t.InfoHash(), e.p)
	} else {
		fi.dir = true
	}
	return fi
}

func (d davFS) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
		return nil, os.ErrPermission
	}
	e, ok := d.resolve(name)
	if !ok {
		return nil, os.ErrNotExist
	}
	fi := d.info(e)
	if fi.dir {
		return &davDir{fs: d, e: e, fi: fi}, nil
	}
	i := e.tr.files[e.p]
	return &davFile{fi: fi, open: func() (File, error) { return e.t.OpenFile(ctx, i) }}, nil
}

// fileInfo describes a WebDAV entry. It gives webdav the ETag and the
// Content-Type itself: webdav would otherwise open the file and read its
// start, downloading a piece for a directory listing.
type fileInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
	etag string
}

var (
	_ webdav.ETager       = (*fileInfo)(nil)
	_ webdav.ContentTyper = (*fileInfo)(nil)
)

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) ModTime() time.Time { return fi.mod }
func (fi *fileInfo) IsDir() bool        { return fi.dir }
func (fi *fileInfo) Sys() any           { return nil }
func (fi *fileInfo) Mode() iofs.FileMode {
	if fi.dir {
		return iofs.ModeDir | 0o555
	}
	return 0o444
}

func (fi *fileInfo) ETag(context.Context) (string, error) {
	if fi.etag == "" {
		return "", webdav.ErrNotImplemented
	}
	return fi.etag, nil
}

func (fi *fileInfo) ContentType(context.Context) (string, error) {
	return contentType(fi.name), nil
}

// davFile is an open file of the WebDAV tree. webdav opens every file
// it lists to read its properties, so the stream of the torrent's file
// is opened only when the file is read.
type davFile struct {
	fi   *fileInfo
	open func() (File, error)
	f    File
}

func (f *davFile) stream() (File, error) {
	if f.f == nil {
		s, err := f.open()
		if err != nil {
			return nil, err
		}
		f.f = s
	}
	return f.f, nil
}

func (f *davFile) Read(b []byte) (int, error) {
	s, err := f.stream()
	if err != nil {
		return 0, err
	}
	return s.Read(b)
}

func (f *davFile) Seek(off int64, whence int) (int64, error) {
	s, err := f.stream()
	if err != nil {
		return 0, err
	}
	return s.Seek(off, whence)
}

func (f *davFile) Close() error {
	if f.f == nil {
		return nil
	}
	return f.f.Close()
}

func (f *davFile) Stat() (os.FileInfo, error)         { return f.fi, nil }
func (f *davFile) Readdir(int) ([]os.FileInfo, error) { return nil, errors.New("not a directory") }
func (f *davFile) Write([]byte) (int, error)          { return 0, os.ErrPermission }

// davDir is an open directory of the WebDAV tree.
type davDir struct {
	fs   davFS
	e    entry
	fi   *fileInfo
	read int // entries Readdir returned so far
}

func (d *davDir) Close() error                   { return nil }
func (d *davDir) Read([]byte) (int, error)       { return 0, errors.New("is a directory") }
func (d *davDir) Seek(int64, int) (int64, error) { return 0, nil }
func (d *davDir) Write([]byte) (int, error)      { return 0, os.ErrPermission }
func (d *davDir) Stat() (os.FileInfo, error)     { return d.fi, nil }
func (d *davDir) children() []os.FileInfo {
	var out []os.FileInfo
	if d.e.t == nil {
		ts := d.fs.h.Library.Torrents()
		slices.SortFunc(ts, func(a, b Torrent) int { return strings.Compare(a.Name(), b.Name()) })
		for _, t := range ts {
			out = append(out, d.fs.info(entry{t: t, tr: d.fs.h.tree(t)}))
		}
		return out
	}
	for _, name := range d.e.tr.dirs[d.e.p] {
		out = append(out, d.fs.info(entry{t: d.e.t, tr: d.e.tr, p: path.Join(d.e.p, name)}))
	}
	return out
}

// Readdir returns the next count entries, or all the rest when count
// <= 0 (os.File's contract).
func (d *davDir) Readdir(count int) ([]os.FileInfo, error) {
	all := d.children()
	rest := all[min(d.read, len(all)):]
	if count <= 0 {
		d.read = len(all)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(count, len(rest))]
	d.read += len(rest)
	return rest, nil
}
