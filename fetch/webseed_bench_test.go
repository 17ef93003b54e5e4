package fetch

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkWebSeed downloads a 64 MiB torrent from a loopback web seed
// into memory and reports its throughput as a ratio of a plain HTTP GET of
// the same file in the same run (1.0 = as fast as reading the file over
// HTTP without hashing or storing it), and of SHA-1 over the same bytes
// (every byte is hashed twice: in memory, then by the storage's Verify).
func BenchmarkWebSeed(b *testing.B) {
	mi, data := testTorrent(b, 64<<20, 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	b.Cleanup(srv.Close)
	mi.URLList = []string{srv.URL + "/f"}

	var plain, hash, seed time.Duration
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		start := time.Now()
		resp, err := http.Get(srv.URL + "/f")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		plain += time.Since(start)

		start = time.Now()
		sha1.Sum(data)
		hash += time.Since(start)

		start = time.Now()
		c, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(context.Background(), mi, newMemStorage(&mi.Info, nil), TorrentOptions{DownloadAll: true})
		if err != nil {
			b.Fatal(err)
		}
		select {
		case <-tor.Complete():
		case <-time.After(time.Minute):
			b.Fatalf("incomplete after a minute: %+v", tor.Stats())
		}
		seed += time.Since(start)
		c.Close()
	}
	b.ReportMetric(plain.Seconds()/seed.Seconds(), "x_plain_http")
	b.ReportMetric(hash.Seconds()/seed.Seconds(), "x_one_sha1")
}
