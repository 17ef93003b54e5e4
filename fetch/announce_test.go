package fetch

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zeebo/bencode"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// announceLog is a minimal HTTP tracker that records every announce and
// hands out one peer, and trackerID as its "tracker id" when set.
type announceLog struct {
	mu        sync.Mutex
	peer      netip.AddrPort
	trackerID string
	calls     []map[string]string
}

func (a *announceLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	call := map[string]string{}
	for _, k := range []string{"event", "left", "downloaded", "uploaded", "port", "trackerid"} {
		call[k] = q.Get(k)
	}
	a.mu.Lock()
	a.calls = append(a.calls, call)
	a.mu.Unlock()
	v4, _ := wire.CompactPeers([]netip.AddrPort{a.peer})
	answer := map[string]any{"interval": 1800, "peers": v4}
	if a.trackerID != "" {
		answer["tracker id"] = a.trackerID
	}
	body, _ := bencode.EncodeBytes(answer)
	w.Write(body)
}

func (a *announceLog) events() []map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]string(nil), a.calls...)
}

// TestAnnounceLifecycle: started with everything left, completed as soon
// as the download completes with true counts, stopped on Close; every
// announce after the first sends back the tracker id the first answer
// gave.
func TestAnnounceLifecycle(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})

	log := &announceLog{peer: seed.Addr().(*net.TCPAddr).AddrPort(), trackerID: "tid-1"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(log)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	c := newTestClient(t, Config{})
	tor := addTorrent(t, c, mi, newMemStorage(&mi.Info, nil), TorrentOptions{
		DownloadAll: true, Trackers: [][]string{{srv.URL + "/announce"}},
	})
	waitComplete(t, tor, 20*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for len(log.events()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tor.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ev := log.events()
	if len(ev) != 3 {
		t.Fatalf("announces %v, want started, completed, stopped", ev)
	}
	size := strconv.FormatInt(mi.Info.Length, 10)
	port := strconv.Itoa(c.Addr().(*net.TCPAddr).Port)
	if ev[0]["event"] != "started" || ev[0]["left"] != size || ev[0]["downloaded"] != "0" || ev[0]["port"] != port {
		t.Errorf("first announce %v, want started with left=%s downloaded=0 port=%s", ev[0], size, port)
	}
	if ev[1]["event"] != "completed" || ev[1]["left"] != "0" || ev[1]["downloaded"] != size {
		t.Errorf("second announce %v, want completed with left=0 downloaded=%s", ev[1], size)
	}
	if ev[2]["event"] != "stopped" || ev[2]["left"] != "0" {
		t.Errorf("last announce %v, want stopped with left=0", ev[2])
	}
	if ev[0]["trackerid"] != "" || ev[1]["trackerid"] != "tid-1" || ev[2]["trackerid"] != "tid-1" {
		t.Errorf("tracker ids sent %q, %q, %q; want none, then the tracker's tid-1", ev[0]["trackerid"], ev[1]["trackerid"], ev[2]["trackerid"])
	}
}

// TestResolvedTrackerIDReachesTheTorrent: the tracker id a tracker gave
// while a magnet link was being resolved is sent back by the torrent's
// own first announce to that tracker.
func TestResolvedTrackerIDReachesTheTorrent(t *testing.T) {
	mi, data := magnetTorrent(t, 100)
	seedAddr := seeder(t, mi, data)
	ap, err := netip.ParseAddrPort(seedAddr)
	if err != nil {
		t.Fatal(err)
	}
	log := &announceLog{peer: ap, trackerID: "tid-r"}
	srv := httptest.NewServer(log)
	t.Cleanup(srv.Close)

	c := newTestClient(t, Config{})
	m := &metainfo.Magnet{InfoHash: mi.InfoHash, Trackers: []string{srv.URL + "/announce"}}
	got, _, _, err := resolve(t, c, m, TorrentOptions{}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resolving := len(log.events())
	if resolving == 0 {
		t.Fatal("the resolver did not announce to the magnet's tracker")
	}
	tor := addTorrent(t, c, got, newMemStorage(&got.Info, nil), TorrentOptions{})
	defer tor.Close(context.Background())
	testutil.Eventually(t, "the torrent's first announce", func() bool { return len(log.events()) > resolving })
	ev := log.events()
	if ev[0]["trackerid"] != "" {
		t.Errorf("the resolver's first announce sent tracker id %q, want none", ev[0]["trackerid"])
	}
	if first := ev[resolving]; first["event"] != "started" || first["trackerid"] != "tid-r" {
		t.Errorf("the torrent's first announce %v, want event=started with the tracker id tid-r given while resolving", first)
	}
}
