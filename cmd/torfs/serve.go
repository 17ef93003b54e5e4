package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
)

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve a torrent's files over HTTP and WebDAV, streaming on demand (no FUSE)",
		usage: `Usage: torfs serve [flags] TORRENT|MAGNET|DIR

Serves the torrent's files over HTTP, for players and machines that
cannot mount: the same engine, cache and flags as 'torfs mount', without
FUSE. Every file is at http://ADDR/t/INFOHASH/PATH (INFOHASH in lowercase
hex, PATH as a mount shows it: inside a multi-file torrent's directory),
with range requests, so a player streams and seeks in it while the
pieces under each read are fetched first; http://ADDR/t/INFOHASH.m3u is
a playlist of the torrent's media files, http://ADDR/dav/ the same tree
as read-only WebDAV (one directory per torrent), http://ADDR/ a list of
it all and http://ADDR/status.json what 'torfs status --json' shows.
Pieces held in the cache are uploaded to other peers meanwhile.

A MAGNET link (quoted) is served once its metadata arrived; a DIR of
.torrent files (and .magnet files) is followed as 'torfs mount' does.
Listening beyond loopback (--http 0.0.0.0:8080) needs --http-token or
--http-token-file: every request must then carry the token. Ctrl-C
stops: open streams end, the trackers are told, the cache is saved (and
removed without --keep).

Flags:
  --http ADDR          listen on ADDR (default 127.0.0.1:8080; a port alone
                       means 127.0.0.1:PORT)
  --http-token TOKEN   every request must carry TOKEN ("Authorization:
                       Bearer TOKEN" or ?token=TOKEN in the URL); required
                       when ADDR is not a loopback address
  --http-token-file FILE
                       read the token from FILE (not shown in ps)
` + sessionFlagsHelp + utpFlagsHelp + portMapFlagsHelp + dhtFlagsHelp + `
Examples:
  torfs serve film.torrent
  mpv http://127.0.0.1:8080/t/c9e15763f722f23e98a29decdfae341b98d53056.m3u
  torfs serve --http 8081 'magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=film'
  torfs serve --http 0.0.0.0:8080 --http-token-file ~/.config/torfs-token --cache-size 8GiB ~/torrents
  rclone lsf -R ':webdav,url="http://127.0.0.1:8080/dav":'
`,
		run: runServe,
	}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("serve")
	var sf sessionFlags
	sf.register(fl)
	var hf httpFlags
	hf.register(fl, "127.0.0.1:8080")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want a .torrent file, a magnet link (quoted) or a directory of .torrent files; got %d arguments", len(pos))
	}
	addr, token, err := hf.resolve()
	if err != nil {
		return err
	}
	if addr == "" {
		return usagef("--http: want an address such as 127.0.0.1:8080")
	}
	scfg, err := sf.config(stderr)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if sf.swarm.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	scfg.Logger, scfg.Fetch.Logger = log, log
	source, err := torrentFile(ctx, pos[0], filepath.Join(scfg.CacheDir, "torrents"))
	if err != nil {
		return err
	}
	tg := mount.Target{Source: source, HTTPAddr: addr, HTTPToken: token, Page: webPage(log)}

	ctx, _, stopSigs := stopSignals(ctx)
	defer stopSigs()
	ready := func(m mount.Mounted) {
		index := m.HTTPURL + "/"
		if token != "" {
			index += "?token=" + url.QueryEscape(token)
		}
		what := "resolving the magnet's metadata first"
		if !metainfo.IsMagnet(tg.Source) {
			what = "fetching the piece hashes the torrent lacks from peers first"
		}
		if !m.Resolving {
			what = "files at " + m.HTTPURL + "/t/INFOHASH/PATH, playlists at /t/INFOHASH.m3u, WebDAV at /dav/"
		}
		fmt.Fprintf(stdout, "serving %s at %s (%s; cache in %s; peers connect to %s); Ctrl-C to stop\n",
			strings.Join(m.Torrents, ", "), index, what, m.CacheDir, m.Listen)
	}
	if err := mount.Stream(ctx, scfg, tg, ready); err != nil {
		return err
	}
	fmt.Fprintln(stderr, "stopped serving")
	return nil
}
