package fetch

import (
	"context"
	"testing"
	"time"
)

// BenchmarkTransfer moves a 64 MiB torrent between two clients over
// loopback with in-memory storage: the engine's own cost per byte
// (framing, picking, bookkeeping, hashing) without disk or libtorrent.
func BenchmarkTransfer(b *testing.B) {
	mi, data := testTorrent(b, 64<<20, 256<<10)
	seed, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer seed.Close()
	if _, err := seed.AddTorrent(context.Background(), mi, newMemStorage(&mi.Info, data), TorrentOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(mi.Info.Length)
	b.ReportAllocs()
	for b.Loop() {
		c, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(context.Background(), mi, newMemStorage(&mi.Info, nil), TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-tor.Complete():
		case <-time.After(time.Minute):
			b.Fatal("transfer did not complete")
		}
		c.Close()
	}
}
