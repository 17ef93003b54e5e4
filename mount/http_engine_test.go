package mount

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/cache"
	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// seeded writes n random bytes as film.mkv, makes its torrent and seeds
// it from an engine in this process. Only the pieces before have are
// right on the seeder's disk; the rest nobody has.
func seeded(t *testing.T, n, pieceLength int64, have int) (*metainfo.MetaInfo, []byte, string) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 9))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	path := filepath.Join(dir, "film.mkv")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Create(t.Context(), path, metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatal(err)
	}
	if have < mi.Info.NumPieces() {
		broken := bytes.Clone(data)
		clear(broken[int64(have)*pieceLength:])
		if err := os.WriteFile(path, broken, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := cache.Open(&mi.Info, cache.Options{Dir: dir, Budget: cache.Keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for p := range mi.Info.NumPieces() {
		if ok, err := st.Prove(p); err != nil || ok != (p < have) {
			t.Fatalf("proving piece %d: %v, %v", p, ok, err)
		}
	}
	c, err := fetch.NewClient(fetch.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.AddTorrent(t.Context(), mi, st, fetch.TorrentOptions{}); err != nil {
		t.Fatal(err)
	}
	return mi, data, c.Addr().String()
}

// streaming is a Session fetching mi from seed, with its HTTP server.
func streaming(t *testing.T, mi *metainfo.MetaInfo, seed string) (*Session, *Served, string) {
	t.Helper()
	s, err := New(Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: t.TempDir(), Peers: []string{seed}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	tor, err := s.Add(t.Context(), "film", mi)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := serveHTTP(s, Target{HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.stop)
	return s, tor, hs.filesURL + "/t/" + mi.InfoHash.String() + "/film.mkv"
}

// TestHTTPConcurrentRangesDownloadOnce: 50 clients reading ranges of
// one file over HTTP at once get the right bytes, and the file is
// downloaded once, not once per client.
func TestHTTPConcurrentRangesDownloadOnce(t *testing.T) {
	const size = 4<<20 + 777
	mi, data, seed := seeded(t, size, 64<<10, 1<<20)
	_, tor, url := streaming(t, mi, seed)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const clients = 50
	rng := rand.New(rand.NewPCG(5, 6))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		start := int64(i) * size / clients
		end := min(start+size/clients+rng.Int64N(1<<20), size) - 1
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[start:end+1]) {
				errs <- fmt.Errorf("range %d-%d: %s, %d bytes, %v", start, end, resp.Status, len(body), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Several ranges at once, the second one far from the first.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=10-109,3000000-3000099")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("two ranges: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for _, off := range []int64{10, 3000000} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		if body, err := io.ReadAll(part); err != nil || !bytes.Equal(body, data[off:off+100]) {
			t.Errorf("the range at %d: %d bytes, %v", off, len(body), err)
		}
	}
	st := tor.status()
	if ratio := float64(st.Downloaded) / size; ratio > 1.1 {
		t.Errorf("50 clients downloaded %d bytes of a %d-byte file: %.2fx, want at most 1.1x", st.Downloaded, size, ratio)
	}
	testutil.Eventually(t, "every stream closed", func() bool { return tor.tor.Readers() == 0 })
}

// TestHTTPClientGoneWithdrawsDemand: a client that hangs up in the
// middle of a range, while the engine waits for pieces no peer has,
// takes its stream and its demand away at once.
func TestHTTPClientGoneWithdrawsDemand(t *testing.T) {
	const pl = 64 << 10
	mi, data, seed := seeded(t, 2<<20, pl, 16)
	_, tor, url := streaming(t, mi, seed)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 512<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil || !bytes.Equal(first, data[:len(first)]) {
		t.Fatalf("the first 512 KiB: %v", err)
	}
	testutil.Eventually(t, "the stream waiting for a piece nobody has", func() bool {
		return tor.tor.Readers() == 1 && tor.tor.Stats().VerifiedPieces == 16
	})
	cancel()
	resp.Body.Close()
	testutil.Eventually(t, "the stream's reader closed", func() bool { return tor.tor.Readers() == 0 })
}
