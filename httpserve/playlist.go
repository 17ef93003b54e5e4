package httpserve

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// servePlaylist serves an M3U playlist of t's media files, in the
// torrent's order, as absolute URLs on the host the client asked for.
// A token the request carried goes into each URL: players cannot send
// headers.
func (h *Handler) servePlaylist(w http.ResponseWriter, r *http.Request, t Torrent, tr *tree) {
	w.Header().Set("Content-Type", "audio/x-mpegurl; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n")
	for _, p := range tr.paths {
		if !isMedia(p) {
			continue
		}
		fmt.Fprintf(&b, "#EXTINF:-1,%s\n%s\n", oneLine(path.Base(p)), FileURL(r, t.InfoHash().String(), p))
	}
	_, _ = w.Write([]byte(b.String()))
}

// FileURL is the absolute URL of the file at p (slash-separated, as the
// mount shows it) of the torrent with info-hash hs, on the host r was
// sent to, carrying the token RequireToken let r in with, if any.
func FileURL(r *http.Request, hs, p string) string {
	u := baseURL(r) + FilePath(hs, strings.Split(p, "/"))
	if tok := grantedToken(r); tok != "" {
		u += "?token=" + url.QueryEscape(tok)
	}
	return u
}

// FilePath is the path a file of a torrent is served at:
// /t/INFOHASH/PATH, the info-hash in lowercase hex and PATH the file's
// path inside the torrent (without a multi-file torrent's name), each
// element escaped.
func FilePath(infoHash string, path []string) string {
	var b strings.Builder
	b.WriteString("/t/")
	b.WriteString(strings.ToLower(infoHash))
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(p))
	}
	return b.String()
}

// oneLine keeps a title on its #EXTINF line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// baseURL is the scheme and host r was sent to.
func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}
