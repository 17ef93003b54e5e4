package fetch

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
)

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addTorrent(t *testing.T, c *Client, mi *metainfo.MetaInfo, st Storage, opts TorrentOptions) *Torrent {
	t.Helper()
	tor, err := c.AddTorrent(context.Background(), mi, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

func waitComplete(t *testing.T, tor *Torrent, d time.Duration) {
	t.Helper()
	select {
	case <-tor.Complete():
	case <-time.After(d):
		t.Fatalf("download incomplete after %v: %+v", d, tor.Stats())
	}
}

func TestDownloadFromSeeds(t *testing.T) {
	mi, data := testTorrent(t, 5<<20+12345, 256<<10)
	var seeds []string
	for range 2 {
		c := newTestClient(t, Config{})
		addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
		seeds = append(seeds, c.Addr().String())
	}
	leech := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, leech, mi, st, TorrentOptions{DownloadAll: true, Peers: seeds})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("downloaded data differs")
	}
	s := tor.Stats()
	if s.VerifiedPieces != mi.Info.NumPieces() || s.Downloaded < mi.Info.Length {
		t.Fatalf("stats after completion: %+v", s)
	}
	if err := tor.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestReaderFetchesOnlyDemand(t *testing.T) {
	mi, data := testTorrent(t, 4<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{Peers: []string{seed.Addr().String()}})
	r := tor.NewReader(ReaderOptions{Readahead: 128 << 10, StallTimeout: 20 * time.Second})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, 1000)
	off := int64(2<<20 + 100)
	n, err := r.ReadAt(ctx, buf, off)
	if err != nil || n != len(buf) {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	if !bytes.Equal(buf, data[off:off+int64(n)]) {
		t.Fatal("read returned wrong bytes")
	}
	// The first piece was never demanded and nothing downloads it.
	time.Sleep(200 * time.Millisecond)
	if st.Have(0) {
		t.Fatal("piece 0 fetched without demand")
	}
	// The end of the torrent.
	end := make([]byte, 10)
	n, err = r.ReadAt(ctx, end, mi.Info.Length-4)
	if n != 4 || err == nil || !bytes.Equal(end[:4], data[len(data)-4:]) {
		t.Fatalf("read at the end = %d, %v", n, err)
	}
}

func TestReaderCancelAndStall(t *testing.T) {
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	r := tor.NewReader(ReaderOptions{StallTimeout: 300 * time.Millisecond})
	defer r.Close()
	_, err := r.ReadAt(context.Background(), make([]byte, 10), 0)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r2 := tor.NewReader(ReaderOptions{})
	defer r2.Close()
	if _, err := r2.ReadAt(ctx, make([]byte, 10), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestClosedIsErrClosed: a read of a closed torrent and a torrent added to
// a closed client both fail with ErrClosed.
func TestClosedIsErrClosed(t *testing.T) {
	mi, _ := testTorrent(t, 1<<20, 64<<10)
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{})
	r := tor.NewReader(ReaderOptions{})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, make([]byte, 10), 0)
		read <- err
	}()
	if err := tor.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-read; !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadAt of a closed torrent: %v, want ErrClosed", err)
	}
	c.Close()
	if _, err := c.AddTorrent(ctx, mi, newMemStorage(&mi.Info, nil), TorrentOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddTorrent to a closed client: %v, want ErrClosed", err)
	}
}

func TestBudgetBackPressure(t *testing.T) {
	mi, data := testTorrent(t, 2<<20, 128<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.budgetFails = 50
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs after back-pressure")
	}
}

func TestEvictedPieceIsRejected(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seedSt := newMemStorage(&mi.Info, data)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, seedSt, TorrentOptions{})
	seedSt.evict(3) // after the seed advertised it
	// A second seed has everything, so the download completes, but
	// nothing of piece 3 may come from the first one.
	seed2 := newTestClient(t, Config{})
	addTorrent(t, seed2, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String(), seed2.Addr().String()}})
	waitComplete(t, tor, 30*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
}

// TestConcurrentReadsOfOneReader: the kernel reads one handle from several
// threads; each read's pieces stay demanded until it returns.
func TestConcurrentReadsOfOneReader(t *testing.T) {
	mi, data := testTorrent(t, 8<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{seed.Addr().String()}})
	r := tor.NewReader(ReaderOptions{Readahead: 64 << 10})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offs := []int64{0, 7 << 20, 3<<20 + 5, 5 << 20}
	errs := make(chan error, len(offs))
	for _, off := range offs {
		go func() {
			b := make([]byte, 100<<10)
			n, err := r.ReadAt(ctx, b, off)
			if err == nil && !bytes.Equal(b[:n], data[off:off+int64(n)]) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		}()
	}
	for range offs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestIPv6: the default listener takes IPv6 connections too.
func TestIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("this machine has no IPv6 loopback: %v", err)
	}
	probe.Close()
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{ListenAddr: ":0"})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	port := seed.Addr().(*net.TCPAddr).Port
	c := newTestClient(t, Config{ListenAddr: "[::1]:0"})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{net.JoinHostPort("::1", strconv.Itoa(port))}})
	waitComplete(t, tor, 20*time.Second)
	if !bytes.Equal(st.bytes(), data) {
		t.Fatal("data differs")
	}
}
