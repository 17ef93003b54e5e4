package mount

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/torfs/torfs/httpserve"
	"github.com/torfs/torfs/metainfo"
)

// library presents a Session's torrents to package httpserve: each
// request's stream is a fetch.FileReader with the mount's reader
// options, under the request's context.
type library struct{ s *Session }

var _ httpserve.Library = library{}

func (l library) Torrents() []httpserve.Torrent {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	out := make([]httpserve.Torrent, 0, len(l.s.torrents))
	for _, t := range l.s.torrents {
		out = append(out, httpTorrent{t})
	}
	slices.SortFunc(out, func(a, b httpserve.Torrent) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

// httpTorrent is a Served torrent as package httpserve sees it.
type httpTorrent struct{ t *Served }

func (h httpTorrent) Name() string            { return h.t.Name }
func (h httpTorrent) InfoHash() metainfo.Hash { return h.t.Meta.InfoHash }
func (h httpTorrent) Info() *metainfo.Info    { return &h.t.Meta.Info }

// ModTime is the torrent's creation date, or when it was added, as the
// mount shows it.
func (h httpTorrent) ModTime() time.Time {
	if d := h.t.Meta.CreationDate; !d.IsZero() {
		return d
	}
	return h.t.added
}

func (h httpTorrent) OpenFile(ctx context.Context, i int) (httpserve.File, error) {
	f := &h.t.Meta.Info.Files[i]
	return h.t.tor.OpenFile(ctx, f.Offset, f.Length, h.t.readerOpts), nil
}
