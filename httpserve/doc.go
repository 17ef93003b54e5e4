// Package httpserve serves the files of open torrents over HTTP, for
// players and machines that cannot mount: every file at
// /t/INFOHASH/PATH with range requests (http.ServeContent: Range,
// multiple ranges, If-Range, HEAD, a strong ETag per file), an M3U
// playlist of a torrent's media files at /t/INFOHASH.m3u, and the same
// tree read-only over WebDAV at /dav/NAME/PATH. Each request reads
// through its own stream (a File) that ends with the request, so a
// client that goes away stops costing pieces at once. RequireToken
// guards a server that listens beyond loopback.
//
// Paths resolve only through each torrent's own file list: nothing a
// client sends reaches the disk.
package httpserve
