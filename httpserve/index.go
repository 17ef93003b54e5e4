package httpserve

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Index serves, at "/" only, a plain HTML page listing every torrent
// with its playlist and the URL of each file, for a server that has no
// richer page. Other paths are 404.
func (h *Handler) Index() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		type file struct{ Path, URL string }
		type torrent struct {
			Name, InfoHash, Playlist string
			Files                    []file
		}
		var page struct {
			DAV      string
			Torrents []torrent
		}
		base := baseURL(r)
		page.DAV = base + "/dav/"
		ts := h.Library.Torrents()
		slices.SortFunc(ts, func(a, b Torrent) int { return strings.Compare(a.Name(), b.Name()) })
		for _, t := range ts {
			hs := t.InfoHash().String()
			pl := base + "/t/" + hs + ".m3u"
			if tok := grantedToken(r); tok != "" {
				pl += "?token=" + url.QueryEscape(tok)
			}
			tv := torrent{Name: t.Name(), InfoHash: hs, Playlist: pl}
			for _, p := range h.tree(t).paths {
				tv.Files = append(tv.Files, file{Path: p, URL: FileURL(r, hs, p)})
			}
			page.Torrents = append(page.Torrents, tv)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := indexPage.Execute(w, page); err != nil {
			h.log().Debug("writing the index page", "err", err)
		}
	})
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<meta charset="utf-8">
<title>torfs</title>
<h1>torfs</h1>
<p>WebDAV (read-only): <a href="{{.DAV}}">{{.DAV}}</a></p>
{{range .Torrents}}<h2>{{.Name}}</h2>
<p>info-hash {{.InfoHash}} · playlist <a href="{{.Playlist}}">{{.Playlist}}</a></p>
<ul>
{{range .Files}}<li><a href="{{.URL}}">{{.Path}}</a></li>
{{end}}</ul>
{{else}}<p>No torrent is open yet.</p>
{{end}}`))
