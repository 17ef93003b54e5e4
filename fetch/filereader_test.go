package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// twoFiles splits a test torrent into a.bin and b.bin at split, and
// returns b.bin.
func twoFiles(mi *metainfo.MetaInfo, split int64) metainfo.File {
	mi.Info.Name = "two"
	mi.Info.MultiFile = true
	b := metainfo.File{Path: []string{"b.bin"}, Offset: split, Length: mi.Info.Length - split}
	mi.Info.Files = []metainfo.File{{Path: []string{"a.bin"}, Length: split}, b}
	return b
}

func TestFileReaderReadSeekReadAt(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	f := twoFiles(mi, 100000)
	want := data[f.Offset:]
	seed := seeder(t, mi, data)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{seed}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fr := tor.OpenFile(ctx, f.Offset, f.Length, ReaderOptions{})
	defer fr.Close()

	// Small reads go through the chunk buffer; the whole file comes out.
	var got bytes.Buffer
	if _, err := io.CopyBuffer(&got, struct{ io.Reader }{fr}, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, not the file's %d", got.Len(), len(want))
	}
	if end, err := fr.Seek(0, io.SeekEnd); err != nil || end != f.Length {
		t.Fatalf("Seek(0, end) = %d, %v; want %d", end, err, f.Length)
	}
	if n, err := fr.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end = %d, %v; want io.EOF", n, err)
	}
	if _, err := fr.Seek(-5000, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	tail := make([]byte, 6000)
	n, err := io.ReadFull(fr, tail)
	if n != 5000 || !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(tail[:n], want[len(want)-5000:]) {
		t.Fatalf("the last 5000 bytes: %d, %v", n, err)
	}
	// ReadAt at the file's end: the bytes there, then io.EOF, never the
	// next file's bytes.
	n, err = fr.ReadAt(tail, f.Length-100)
	if n != 100 || err != io.EOF || !bytes.Equal(tail[:n], want[len(want)-100:]) {
		t.Fatalf("ReadAt over the end = %d, %v", n, err)
	}
	n, err = fr.ReadAtContext(ctx, tail[:10], 7)
	if n != 10 || err != nil || !bytes.Equal(tail[:10], want[7:17]) {
		t.Fatalf("ReadAtContext = %d, %v", n, err)
	}
	if _, err := fr.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek to -1 succeeded")
	}
}

// TestFileReaderCloseEndsBlockedRead: Close withdraws the demand of a
// read waiting for a piece nobody sends, and ends that read with
// ErrClosed.
func TestFileReaderCloseEndsBlockedRead(t *testing.T) {
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	fr := tor.OpenFile(context.Background(), 0, mi.Info.Length, ReaderOptions{})
	errc := make(chan error, 1)
	go func() {
		_, err := fr.ReadAt(make([]byte, 10), 0)
		errc <- err
	}()
	testutil.Eventually(t, "the read demanding its piece", func() bool { return demanded(tor, 0) })
	fr.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not end the blocked read")
	}
	if tor.Readers() != 0 || demanded(tor, 0) {
		t.Fatalf("after Close: %d readers, piece 0 demanded %v", tor.Readers(), demanded(tor, 0))
	}
}

// demanded reports whether an open reader demands piece p.
func demanded(tor *Torrent, p int) bool {
	tor.mu.Lock()
	defer tor.mu.Unlock()
	for r := range tor.readers {
		if r.anyPiece(func(q int) bool { return q == p }) {
			return true
		}
	}
	return false
}

// serveFile serves file f of tor the way package httpserve does: one
// FileReader per request, under the request's context.
func serveFile(tor *Torrent, f metainfo.File) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fr := tor.OpenFile(r.Context(), f.Offset, f.Length, ReaderOptions{})
		defer fr.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "b.bin", time.Time{}, fr)
	})
}

// TestFileReaderConcurrentRangesDownloadOnce: 50 HTTP clients reading
// ranges of one file at once download each piece once, not once per
// client.
func TestFileReaderConcurrentRangesDownloadOnce(t *testing.T) {
	mi, data := testTorrent(t, 4<<20, 64<<10)
	f := twoFiles(mi, 1000)
	want := data[f.Offset:]
	seed := seeder(t, mi, data)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{seed}})
	srv := httptest.NewServer(serveFile(tor, f))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const clients = 50
	rng := rand.New(rand.NewPCG(1, 2))
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		// Together the ranges cover the file; each overlaps others.
		start := int64(i) * f.Length / clients
		end := min(start+int64(rng.IntN(1<<20))+f.Length/clients, f.Length) - 1
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			switch {
			case err != nil:
				errs <- err
			case resp.StatusCode != http.StatusPartialContent:
				errs <- fmt.Errorf("range %d-%d: %s", start, end, resp.Status)
			case !bytes.Equal(body, want[start:end+1]):
				errs <- fmt.Errorf("range %d-%d: wrong bytes", start, end)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := tor.Stats().Downloaded
	if ratio := float64(got) / float64(mi.Info.Length); ratio > 1.1 {
		t.Errorf("50 readers downloaded %d bytes of a %d-byte torrent: %.2fx, want at most 1.1x", got, mi.Info.Length, ratio)
	}
	testutil.Eventually(t, "every stream closed", func() bool { return tor.Readers() == 0 })
}

// TestFileReaderClientGoneWithdrawsDemand: a client that hangs up in
// the middle of a range (its second half is on no peer) withdraws its
// reader and its demand at once.
func TestFileReaderClientGoneWithdrawsDemand(t *testing.T) {
	mi, data := testTorrent(t, 2<<20, 64<<10)
	f := twoFiles(mi, 1000)
	half := newMemStorage(&mi.Info, data)
	for p := range half.ok[len(half.ok)/2:] {
		half.ok[len(half.ok)/2+p] = false
	}
	sc := newTestClient(t, Config{})
	addTorrent(t, sc, mi, half, TorrentOptions{})
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{sc.Addr().String()}})
	srv := httptest.NewServer(serveFile(tor, f))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	req.Header.Set("Range", "bytes=0-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 256<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil || !bytes.Equal(first, data[f.Offset:f.Offset+int64(len(first))]) {
		t.Fatalf("the first 256 KiB: %v", err)
	}
	last := mi.Info.NumPieces() - 1
	testutil.Eventually(t, "the stream demanding the missing half", func() bool {
		return tor.Readers() == 1 && demanded(tor, mi.Info.NumPieces()/2)
	})
	cancel()
	resp.Body.Close()
	testutil.Eventually(t, "the stream's reader closed", func() bool { return tor.Readers() == 0 })
	if demanded(tor, mi.Info.NumPieces()/2) || demanded(tor, last) {
		t.Error("the missing pieces are still demanded")
	}
}
