package fetch

import (
	"bytes"
	"context"
	"crypto/sha1"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// serveFiles serves files by URL path with http.ServeContent, so ranges
// work, counting requests.
func serveFiles(t *testing.T, files map[string][]byte) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	reqs := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// multiFileTorrent builds a multi-file torrent of random files (with a
// pad file, and names that need escaping) and returns the files by path.
func multiFileTorrent(t *testing.T, pieceLen int64) (*metainfo.MetaInfo, []byte, map[string][]byte) {
	t.Helper()
	mi, data := testTorrent(t, 3<<20+777, pieceLen)
	info := &mi.Info
	info.Name = "my set"
	info.MultiFile = true
	sizes := []struct {
		path []string
		n    int64
		pad  bool
	}{
		{[]string{"a.bin"}, 1<<20 + 5, false},
		{[]string{".pad", "7"}, 7, true},
		{[]string{"sub dir", "b#1?.bin"}, 2 << 20, false},
		{[]string{"empty"}, 0, false},
		{[]string{"c%.bin"}, 0, false}, // rest, below
	}
	var off int64
	info.Files = nil
	files := map[string][]byte{}
	for k, s := range sizes {
		n := s.n
		if k == len(sizes)-1 {
			n = info.Length - off
		}
		if s.pad {
			clear(data[off : off+n])
		}
		info.Files = append(info.Files, metainfo.File{Path: s.path, Length: n, Offset: off, Pad: s.pad})
		if !s.pad {
			files["/seed/my set/"+strings.Join(s.path, "/")] = data[off : off+n]
		}
		off += n
	}
	info.Pieces = nil
	for o := int64(0); o < info.Length; o += pieceLen {
		h := sha1.Sum(data[o:min(o+pieceLen, info.Length)])
		info.Pieces = append(info.Pieces, h[:]...)
	}
	return mi, data, files
}

func TestWebSeedSingleFile(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 5<<20+12345, 256<<10)
	srv, _ := serveFiles(t, map[string][]byte{"/files/test.bin": data})
	for _, u := range []string{srv.URL + "/files/test.bin", srv.URL + "/files/"} {
		c := newTestClient(t, Config{})
		mi.URLList = []string{u}
		st := newMemStorage(&mi.Info, nil)
		tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true})
		waitComplete(t, tor, 30*time.Second)
		if !bytes.Equal(st.bytes(), data) {
			t.Fatalf("%s: downloaded data differs", u)
		}
		ws := tor.WebSeeds()
		if len(ws) != 1 || ws[0].Downloaded != mi.Info.Length || ws[0].Dropped {
			t.Fatalf("%s: web seed stats %+v", u, ws)
		}
		tor.Close(context.Background())
	}
}

func TestWebSeedMultiFile(t *testing.T) {
	t.Parallel()
	mi, data, files := multiFileTorrent(t, 256<<10)
	srv, _ := serveFiles(t, files)
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	// The URL comes from the options (a magnet's ws), without a slash.
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, WebSeeds: []string{srv.URL + "/seed"}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
}

func TestWebSeedFileURL(t *testing.T) {
	single := &metainfo.Info{Name: "a b.iso", Files: []metainfo.File{{Path: []string{"a b.iso"}}}}
	multi := &metainfo.Info{Name: "set #1", MultiFile: true, Files: []metainfo.File{{Path: []string{"d ir", "f?.txt"}}}}
	for _, c := range []struct {
		base string
		info *metainfo.Info
		want string
	}{
		{"http://h/x.iso", single, "http://h/x.iso"},
		{"http://h/pub/", single, "http://h/pub/a%20b.iso"},
		{"http://h/pub", multi, "http://h/pub/set%20%231/d%20ir/f%3F.txt"},
		{"http://h/pub/", multi, "http://h/pub/set%20%231/d%20ir/f%3F.txt"},
	} {
		if got := webSeedFileURL(c.base, c.info, 0); got != c.want {
			t.Errorf("webSeedFileURL(%q) = %q, want %q", c.base, got, c.want)
		}
	}
}

// TestWebSeedCorrupt: a web seed that serves wrong bytes is dropped with an
// error in the log, and the bad piece never reaches the storage.
func TestWebSeedCorrupt(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 2<<20, 256<<10)
	bad := bytes.Clone(data)
	bad[3*256<<10+100] ^= 0xff // piece 3
	srv, reqs := serveFiles(t, map[string][]byte{"/f": bad})
	var logs testutil.Buffer
	c := newTestClient(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mi.URLList = []string{srv.URL + "/f"}
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ws := tor.WebSeeds(); ws[0].Dropped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corrupt web seed not dropped: %+v", tor.WebSeeds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), srv.URL) {
		t.Errorf("no error naming the web seed in the log:\n%s", logs.String())
	}
	time.Sleep(webSeedIdle / 2) // a request in flight at the drop may still land
	n := reqs.Load()
	time.Sleep(3 * webSeedIdle)
	select {
	case <-tor.Complete():
		t.Fatal("download completed from a corrupt web seed")
	default:
	}
	if m := reqs.Load(); m != n {
		t.Errorf("%d more requests to a dropped web seed", m-n)
	}
	got := st.bytes()
	off := mi.Info.PieceOffset(3)
	if !bytes.Equal(got[off:off+mi.Info.PieceSize(3)], make([]byte, mi.Info.PieceSize(3))) {
		t.Fatal("bytes of the corrupt piece reached the storage")
	}
	if st.Have(3) {
		t.Fatal("corrupt piece counted as verified")
	}
}

// TestWebSeedServesReader: without peers, a reader's urgent pieces come
// from the web seed, and a mount-style session fetches only what is read
// and its readahead.
func TestWebSeedServesReader(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 16<<20, 256<<10)
	srv, _ := serveFiles(t, map[string][]byte{"/f": data})
	c := newTestClient(t, Config{})
	mi.URLList = []string{srv.URL + "/f"}
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{})
	r := tor.NewReader(ReaderOptions{Readahead: 1 << 20, StallTimeout: 20 * time.Second})
	defer r.Close()
	buf := make([]byte, 100000)
	off := int64(10<<20 + 333)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := r.ReadAt(ctx, buf, off)
	if err != nil || n != len(buf) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(buf, data[off:off+int64(n)]) {
		t.Fatal("read returned wrong bytes")
	}
	time.Sleep(2 * webSeedIdle) // let readahead settle
	if v := tor.Stats().VerifiedBytes; v > 8<<20 {
		t.Fatalf("a reader of 100 kB made the web seed fetch %d bytes", v)
	}
}

// TestWebSeedRangeIgnored: a server that answers a range request with the
// whole file is not used, and the reason is reported.
func TestWebSeedRangeIgnored(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 10<<20, 256<<10) // larger than one run
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(data) // 200, whole file, ranges ignored
	}))
	t.Cleanup(srv.Close)
	mi.URLList = []string{srv.URL + "/f"}
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{DownloadAll: true})
	deadline := time.Now().Add(20 * time.Second)
	for {
		ws := tor.WebSeeds()
		if strings.Contains(ws[0].LastError, "ignores range requests") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web seed stats %+v", ws)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := tor.Stats(); s.VerifiedPieces != 0 {
		t.Fatalf("%d pieces verified from a server that ignores ranges", s.VerifiedPieces)
	}
}

// slowWriter trickles a response: 16 KiB every 500 ms.
type slowWriter struct{ http.ResponseWriter }

func (w slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 16<<10)
		m, err := w.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
		time.Sleep(500 * time.Millisecond)
	}
	return n, nil
}

// TestPeersTakeOverSlowWebSeed: a slow web seed that claimed the whole
// torrent before any peer came loses the rest of its run to a peer that
// has nothing else to do.
func TestPeersTakeOverSlowWebSeed(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 4<<20, 64<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(slowWriter{w}, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	mi.URLList = []string{srv.URL + "/f"}
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true})
	deadline := time.Now().Add(20 * time.Second)
	for tor.WebSeeds()[0].Downloaded == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the web seed delivered nothing: %+v", tor.WebSeeds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	tor.AddPeers(seed.Addr().String())
	// The web seed alone would need over two minutes.
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
	if ws := tor.WebSeeds()[0]; ws.Downloaded >= mi.Info.Length/2 {
		t.Fatalf("the slow web seed delivered %d of %d bytes", ws.Downloaded, mi.Info.Length)
	}
}

// TestWebSeedRetryAfter: a server that answers 503 with Retry-After is
// asked again only after that delay.
func TestWebSeedRetryAfter(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 1<<20, 256<<10)
	var reqs atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqs.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	mi.URLList = []string{srv.URL + "/f"}
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{DownloadAll: true})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tor.WebSeeds()[0].LastError, "503") {
		if time.Now().After(deadline) {
			t.Fatalf("web seed stats %+v", tor.WebSeeds())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Without Retry-After the next attempt would come within a second.
	time.Sleep(3 * webSeedIdle)
	if n := reqs.Load(); n != 1 {
		t.Fatalf("%d requests to a server that asked for an hour's pause", n)
	}
}

// throttled serves data with ServeContent at about 1.6 MB/s.
func throttled(t *testing.T, data []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(pacedWriter{w}, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// pacedWriter writes 16 KiB every 10 ms.
type pacedWriter struct{ http.ResponseWriter }

func (w pacedWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 16<<10)
		m, err := w.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
		time.Sleep(10 * time.Millisecond)
	}
	return n, nil
}

// webSeedsIdle reports whether no web seed worker is in a run.
func webSeedsIdle(tor *Torrent) bool {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	for _, ws := range tor.webSeeds.seeds {
		for _, r := range ws.runs {
			if r.busy {
				return false
			}
		}
	}
	return true
}

// TestWebSeedRunEndsWithDemand: a run fetched for a reader's readahead
// ends soon after the reader closes, instead of fetching what nobody
// wants any more.
func TestWebSeedRunEndsWithDemand(t *testing.T) {
	t.Parallel()
	mi, data := testTorrent(t, 16<<20, 1<<20)
	srv := throttled(t, data)
	mi.URLList = []string{srv.URL + "/f"}
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	r := tor.NewReader(ReaderOptions{Readahead: 16 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.ReadAt(ctx, make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	for !webSeedsIdle(tor) {
		if ctx.Err() != nil {
			t.Fatal("the web seed is still busy")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The run covered the read's piece and the first readahead window,
	// pieces 0-2. The reader left while piece 0 or 1 was on its way; the
	// run ends before piece 2.
	if got := tor.WebSeeds()[0].Downloaded; got >= 3<<20 {
		t.Fatalf("the web seed fetched %d bytes for a reader that wanted 1 byte and left", got)
	}
}
