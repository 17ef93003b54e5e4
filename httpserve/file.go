package httpserve

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

// serveFile serves file i of t, at p in tr, with http.ServeContent:
// ranges, conditional requests and HEAD. The Content-Type is set from
// the extension beforehand, so that ServeContent never reads the file's
// first bytes to sniff one (a HEAD would download a piece).
func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, t Torrent, tr *tree, i int) {
	p := t.Info().Files[i].Path
	name := p[len(p)-1]
	f, err := t.OpenFile(r.Context(), i)
	if err != nil {
		h.log().Warn("opening a file to serve", "torrent", t.Name(), "file", strings.Join(p, "/"), "err", err)
		http.Error(w, "cannot open the file: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("ETag", etag(t.InfoHash(), strings.Join(p, "/")))
	hd.Set("Content-Type", contentType(name))
	hd.Set("Accept-Ranges", "bytes")
	lf := &loggedFile{File: f}
	http.ServeContent(w, r, name, t.ModTime(), lf)
	if err := lf.firstErr(); err != nil && r.Context().Err() == nil && !errors.Is(err, context.Canceled) {
		h.log().Warn("a stream stopped: its reply is cut short", "torrent", t.Name(), "file", strings.Join(p, "/"), "err", err)
	}
}

// loggedFile keeps the first read error of a File: ServeContent drops
// it, and a stall is worth a line in the log. For several ranges
// ServeContent reads on a goroutine of its own, which may still be
// reading when it returns.
type loggedFile struct {
	File
	mu  sync.Mutex
	err error
}

func (f *loggedFile) Read(b []byte) (int, error) {
	n, err := f.File.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		f.mu.Lock()
		if f.err == nil {
			f.err = err
		}
		f.mu.Unlock()
	}
	return n, err
}

func (f *loggedFile) firstErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// mediaTypes are the types of the files players stream, which the
// system's table may lack (mime.TypeByExtension reads /etc/mime.types
// when there is one); they also choose what goes in a playlist.
var mediaTypes = map[string]string{
	".mkv": "video/x-matroska", ".mk3d": "video/x-matroska", ".mka": "audio/x-matroska",
	".mp4": "video/mp4", ".m4v": "video/mp4", ".m4a": "audio/mp4",
	".webm": "video/webm", ".mov": "video/quicktime", ".avi": "video/x-msvideo",
	".ts": "video/mp2t", ".m2ts": "video/mp2t", ".mpg": "video/mpeg", ".mpeg": "video/mpeg",
	".wmv": "video/x-ms-wmv", ".flv": "video/x-flv", ".ogv": "video/ogg",
	".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg",
	".opus": "audio/ogg", ".wav": "audio/wav", ".aac": "audio/aac", ".wma": "audio/x-ms-wma",
}

// contentType is the type of a file by its extension; unknown
// extensions are application/octet-stream.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	switch ext {
	case ".srt":
		return "application/x-subrip"
	case ".vtt":
		return "text/vtt; charset=utf-8"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// isMedia reports whether a file of this name belongs in a playlist.
func isMedia(name string) bool {
	_, ok := mediaTypes[strings.ToLower(path.Ext(name))]
	return ok
}
