package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/metainfo"
)

// Bounds of fetching a .torrent over HTTP: the largest real torrents are
// a few MiB, and a server that trickles must not hold a command forever.
const (
	maxTorrentURLSize = 16 << 20
	torrentURLTimeout = 60 * time.Second
)

// isTorrentURL reports whether src names a .torrent file by an http(s)
// URL rather than a path.
func isTorrentURL(src string) bool {
	scheme, _, ok := strings.Cut(src, "://")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return scheme == "http" || scheme == "https"
}

// loadTorrent reads the .torrent named by src: a path, or an http(s)
// URL fetched within a minute and 16 MiB.
func loadTorrent(ctx context.Context, src string) (*metainfo.MetaInfo, error) {
	if !isTorrentURL(src) {
		return metainfo.Load(src)
	}
	return fetchTorrent(ctx, src)
}

// fetchTorrent downloads and parses the .torrent at the http(s) URL u.
func fetchTorrent(ctx context.Context, u string) (*metainfo.MetaInfo, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return nil, usagef("%q is not a valid URL", u)
	}
	ctx, cancel := context.WithTimeout(ctx, torrentURLTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/x-bittorrent, */*")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s: no answer within %v", u, torrentURLTimeout)
		}
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: the server answered %s", u, resp.Status)
	}
	if resp.ContentLength > maxTorrentURLSize {
		return nil, fmt.Errorf("fetching %s: the server sends %s, too large for a .torrent file (limit %s)",
			u, bytesize.Format(resp.ContentLength), bytesize.Format(maxTorrentURLSize))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxTorrentURLSize+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetching %s: not received within %v", u, torrentURLTimeout)
		}
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	if len(data) > maxTorrentURLSize {
		return nil, fmt.Errorf("fetching %s: more than %s, too large for a .torrent file", u, bytesize.Format(maxTorrentURLSize))
	}
	mi, err := metainfo.Parse(data)
	if err != nil {
		what := ""
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			what = " (" + ct + ")"
		}
		return nil, fmt.Errorf("%s is not a .torrent file%s: %w", u, what, err)
	}
	return mi, nil
}

// torrentFile returns a path to the .torrent named by src: src itself,
// or for a URL the fetched torrent saved as dir/INFOHASH.torrent.
func torrentFile(ctx context.Context, src, dir string) (string, error) {
	if !isTorrentURL(src) {
		return src, nil
	}
	mi, err := fetchTorrent(ctx, src)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, mi.InfoHash.String()+".torrent")
	if err := saveTorrent(mi, path); err != nil {
		return "", err
	}
	return path, nil
}
