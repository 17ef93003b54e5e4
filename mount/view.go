package mount

import (
	"context"
	"os"
	"slices"
	"strings"

	fusefs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/metainfo"
)

// view is what a mount shows for its source.
type view struct {
	root fusefs.InodeEmbedder
	// watch runs while the mount is live, until its context ends: the
	// directory watcher, or the magnet link's resolution. nil for none.
	watch func(context.Context)
	// names are the torrents shown; source is what mount tables show.
	names     []string
	source    string
	resolving bool
}

// view opens source: a magnet link, a directory of .torrent files or
// one .torrent file.
func (s *Session) view(ctx context.Context, source, statusURL string) (view, error) {
	if metainfo.IsMagnet(source) {
		m, err := metainfo.ParseMagnet(source)
		if err != nil {
			return view{}, err
		}
		return s.magnetView(ctx, m, statusURL)
	}
	fi, err := os.Stat(source)
	if err != nil {
		return view{}, err
	}
	if fi.IsDir() {
		if err := s.sharedBudget(); err != nil {
			return view{}, err
		}
		r := fs.NewRoot(fs.RootOptions{StatusURL: statusURL, Space: s.sharedSpace})
		w := &watcher{dir: source, s: s, root: r, log: s.log, known: map[string]fileStamp{}, magnets: map[string]*watchedMagnet{}}
		w.scan(ctx)
		return view{root: r, watch: w.run, names: r.Names(), source: "torfs"}, nil
	}
	mi, err := metainfo.Load(source)
	if err != nil {
		return view{}, err
	}
	// A v2-only torrent lacking piece hashes gets them from an earlier
	// mount, or from peers while the mount shows a placeholder.
	full := s.withLayers(mi, s.log)
	if full == nil {
		return s.pendingView(newLayersResolution(mi.Info.Name, mi), statusURL), nil
	}
	return s.torrentView(ctx, full, fetch.TorrentOptions{}, statusURL)
}

// torrentView shows one torrent at the mountpoint.
func (s *Session) torrentView(ctx context.Context, mi *metainfo.MetaInfo, extra fetch.TorrentOptions, statusURL string) (view, error) {
	t, err := s.add(ctx, mi.Info.Name, mi, extra)
	if err != nil {
		return view{}, err
	}
	root := fs.NewTorrentDir(t.FS(), fs.Options{Logger: s.log, StatusURL: statusURL, ModTime: mi.CreationDate, Space: t.space})
	return view{root: root, names: []string{mi.Info.Name}, source: mi.Info.Name}, nil
}

// magnetView shows a magnet link: from its saved .torrent when an earlier
// mount resolved it, else a placeholder replaced by the tree once the
// metadata arrives (then saved for the next mount).
func (s *Session) magnetView(ctx context.Context, m *metainfo.Magnet, statusURL string) (view, error) {
	mi, err := s.loadSaved(m)
	if err != nil {
		s.log.Warn("ignoring the saved metadata of the magnet link; resolving it again", "err", err)
	}
	if mi != nil {
		s.log.Info("using the saved metadata of the magnet link, not resolving it",
			"infohash", m.InfoHash, "file", s.savedPath(m.InfoHash))
		return s.torrentView(ctx, mi, magnetExtras(mi, m, nil), statusURL)
	}
	name := m.DisplayName
	if name == "" || strings.ContainsAny(name, "/\x00") {
		name = m.InfoHash.String()
	}
	return s.pendingView(newResolution(name, m), statusURL), nil
}

// pendingView shows r's placeholder until it resolves, then the tree.
func (s *Session) pendingView(r *resolution, statusURL string) view {
	p := fs.NewPending(fs.PendingOptions{InfoHash: r.magnet.InfoHash, Describe: r.describe, StatusURL: statusURL})
	watch := func(ctx context.Context) {
		s.resolveAndShow(ctx, r, p, "", fs.Options{Logger: s.log, StatusURL: statusURL})
	}
	return view{root: p, watch: watch, names: []string{r.name}, source: r.name, resolving: true}
}

// resolveAndShow resolves r, saves the .torrent, starts the torrent as
// name ("" for the torrent's own name) and shows its tree in p with opts.
// It reports whether it added the torrent to the session; when it did not,
// the placeholder says why.
func (s *Session) resolveAndShow(ctx context.Context, r *resolution, p *fs.Pending, name string, opts fs.Options) bool {
	s.track(r)
	if r.known != nil {
		s.log.Info("asking peers for the piece hashes the torrent file lacks", "name", r.name, "infohash", r.magnet.InfoHash)
	} else {
		s.log.Info("resolving the metadata of a magnet link", "name", r.name, "infohash", r.magnet.InfoHash)
	}
	mi, peers, err := s.resolve(ctx, r)
	if err != nil {
		s.log.Info("stopped resolving "+r.what(), "name", r.name, "err", err)
		return false
	}
	if path, err := s.save(mi, r.magnet); err != nil {
		s.log.Warn("could not save the resolved torrent; the next mount resolves it again", "err", err)
	} else {
		s.log.Info("saved the resolved torrent", "file", path)
	}
	if name == "" {
		name = mi.Info.Name
	}
	t, err := s.add(ctx, name, mi, magnetExtras(mi, r.magnet, peers))
	if err != nil {
		r.fail(err)
		s.log.Error("cannot serve the resolved torrent", "name", r.name, "err", err)
		return false
	}
	r.succeed()
	s.untrack(r)
	opts.Space = t.space
	if err := p.Show(t.FS(), opts); err != nil {
		s.log.Error("cannot show the resolved torrent", "name", name, "err", err)
		return true
	}
	s.log.Info("metadata resolved; showing the torrent", "name", name, "infohash", mi.InfoHash,
		"files", len(mi.Info.Files), "peers", len(peers))
	return true
}

// magnetExtras are what a magnet link adds to its torrent: trackers and
// web seeds the torrent does not list already (a resolved torrent lists
// the link's own; a saved one may come from another link), and its peers
// with those found while resolving.
func magnetExtras(mi *metainfo.MetaInfo, m *metainfo.Magnet, found []string) fetch.TorrentOptions {
	var known []string
	for _, tier := range mi.Trackers() {
		known = append(known, tier...)
	}
	var extra fetch.TorrentOptions
	for _, u := range newOnly(known, m.Trackers) {
		extra.Trackers = append(extra.Trackers, []string{u})
	}
	extra.WebSeeds = newOnly(mi.URLList, m.WebSeeds)
	extra.Peers = append(slices.Clone(m.Peers), newOnly(m.Peers, found)...)
	return extra
}

// newOnly returns the elements of add not in have, once each.
func newOnly(have, add []string) []string {
	seen := map[string]bool{}
	for _, x := range have {
		seen[x] = true
	}
	var out []string
	for _, x := range add {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
