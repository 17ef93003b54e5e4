package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/torfs/torfs/tracker"
)

// The conformance suite: every Store must pass it.

func TestMemoryStore(t *testing.T) {
	testStore(t, func(t *testing.T, timeout time.Duration) Store {
		s := NewMemoryStore(timeout)
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestRedisStore(t *testing.T) {
	url := startRedis(t)
	db := 0
	testStore(t, func(t *testing.T, timeout time.Duration) Store {
		// A database of its own per subtest keeps them apart.
		db++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := NewRedisStore(ctx, fmt.Sprintf("%s/%d", url, db), timeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// startRedis runs a throwaway redis-server on a free loopback port and
// returns its URL (without database); cleanup stops it.
func startRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (Debian package redis-server; scripts/deps.sh installs it): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--databases", "64")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "redis://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hashOf(n int) (h [20]byte) {
	h[0], h[1], h[19] = byte(n>>8), byte(n), 0xAB
	return h
}

func idOf(n int) (id [20]byte) {
	copy(id[:], fmt.Sprintf("-TS0001-%012d", n))
	return id
}

func v4(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(n >> 8), byte(n)}), uint16(6000+n))
}

func v6(n int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", n)), uint16(7000+n))
}

func announce(t *testing.T, s Store, h [20]byte, peer int, addr netip.AddrPort, ev tracker.Event, seeder bool, numWant int) *AnnounceResult {
	t.Helper()
	var res AnnounceResult
	a := &PeerAnnounce{InfoHash: h, PeerID: idOf(peer), Addr: addr, Event: ev, Seeder: seeder, NumWant: numWant}
	if err := s.Announce(context.Background(), a, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func testStore(t *testing.T, newStore func(t *testing.T, timeout time.Duration) Store) {
	ctx := context.Background()
	t.Run("peers find each other but never themselves", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(1)
		res := announce(t, s, h, 1, v4(1), tracker.EventStarted, false, 50)
		if len(res.Peers) != 0 || res.Incomplete != 1 || res.Complete != 0 {
			t.Fatalf("first peer got %+v, want no peers and 1 leecher", res)
		}
		res = announce(t, s, h, 2, v4(2), tracker.EventStarted, false, 50)
		if len(res.Peers) != 1 || res.Peers[0].Addr != v4(1) || res.Peers[0].ID != idOf(1) {
			t.Fatalf("second peer got %+v, want peer 1", res.Peers)
		}
		if res.Incomplete != 2 {
			t.Fatalf("leechers %d, want 2", res.Incomplete)
		}
		res = announce(t, s, h, 1, v4(1), tracker.EventNone, false, 50)
		if len(res.Peers) != 1 || res.Peers[0].ID != idOf(2) {
			t.Fatalf("refresh of peer 1 got %+v, want only peer 2", res.Peers)
		}
		if other := announce(t, s, hashOf(2), 3, v4(3), tracker.EventStarted, false, 50); len(other.Peers) != 0 {
			t.Fatalf("another swarm leaked peers: %+v", other.Peers)
		}
	})
	t.Run("completed makes a seeder and counts a download", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(3)
		announce(t, s, h, 1, v4(1), tracker.EventStarted, false, 50)
		announce(t, s, h, 2, v4(2), tracker.EventStarted, false, 50)
		res := announce(t, s, h, 1, v4(1), tracker.EventCompleted, true, 50)
		if res.Complete != 1 || res.Incomplete != 1 || res.Downloaded != 1 {
			t.Fatalf("after completed: %+v, want 1 seeder, 1 leecher, 1 download", res)
		}
		out := make([]tracker.ScrapeStats, 2)
		if err := s.Scrape(ctx, [][20]byte{h, hashOf(99)}, out); err != nil {
			t.Fatal(err)
		}
		if out[0] != (tracker.ScrapeStats{Complete: 1, Incomplete: 1, Downloaded: 1}) || out[1] != (tracker.ScrapeStats{}) {
			t.Fatalf("scrape %+v", out)
		}
	})
	t.Run("stopped removes the peer and an empty swarm", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(4)
		announce(t, s, h, 1, v4(1), tracker.EventStarted, false, 50)
		announce(t, s, h, 2, v4(2), tracker.EventStarted, true, 50)
		if st, _ := s.Stats(ctx); st.Swarms != 1 || st.Seeders != 1 || st.Leechers != 1 {
			t.Fatalf("stats %+v, want 1 swarm, 1 seeder, 1 leecher", st)
		}
		res := announce(t, s, h, 1, v4(1), tracker.EventStopped, false, 50)
		if res.Incomplete != 0 || res.Complete != 1 {
			t.Fatalf("after stop: %+v", res)
		}
		announce(t, s, h, 2, v4(2), tracker.EventStopped, true, 50)
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st != (StoreStats{}) {
			t.Fatalf("stats after all stopped: %+v, want zero", st)
		}
	})
	t.Run("numwant bounds the answer", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(5)
		for i := range 30 {
			announce(t, s, h, i, v4(i), tracker.EventStarted, false, 0)
		}
		if res := announce(t, s, h, 100, v4(100), tracker.EventStarted, false, 7); len(res.Peers) != 7 || res.Incomplete != 31 {
			t.Fatalf("numwant 7: %d peers, %d leechers", len(res.Peers), res.Incomplete)
		}
		res := announce(t, s, h, 101, v4(101), tracker.EventStarted, false, 100)
		if len(res.Peers) != 31 {
			t.Fatalf("numwant 100 of 31 others: got %d", len(res.Peers))
		}
		seen := map[[20]byte]bool{}
		for _, p := range res.Peers {
			if seen[p.ID] || p.ID == idOf(101) {
				t.Fatalf("duplicate or self peer %x", p.ID)
			}
			seen[p.ID] = true
		}
	})
	t.Run("a seeder gets leechers first", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(6)
		for i := range 10 {
			announce(t, s, h, i, v4(i), tracker.EventStarted, true, 0)
		}
		for i := 10; i < 13; i++ {
			announce(t, s, h, i, v4(i), tracker.EventStarted, false, 0)
		}
		res := announce(t, s, h, 50, v4(50), tracker.EventStarted, true, 3)
		for _, p := range res.Peers {
			if p.ID != idOf(10) && p.ID != idOf(11) && p.ID != idOf(12) {
				t.Fatalf("seeder got %x, want only the 3 leechers", p.ID)
			}
		}
		if len(res.Peers) != 3 {
			t.Fatalf("seeder got %d peers, want 3", len(res.Peers))
		}
	})
	t.Run("ipv6 peers and family filter", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(7)
		announce(t, s, h, 1, v4(1), tracker.EventStarted, false, 0)
		announce(t, s, h, 2, v6(2), tracker.EventStarted, false, 0)
		res := announce(t, s, h, 3, v6(3), tracker.EventStarted, false, 50)
		if len(res.Peers) != 2 {
			t.Fatalf("both families wanted: %+v", res.Peers)
		}
		var out AnnounceResult
		a := &PeerAnnounce{InfoHash: h, PeerID: idOf(4), Addr: v6(4), NumWant: 50, SameFamily: true}
		if err := s.Announce(ctx, a, &out); err != nil {
			t.Fatal(err)
		}
		for _, p := range out.Peers {
			if p.Addr.Addr().Is4() {
				t.Fatalf("same-family IPv6 answer has %v", p.Addr)
			}
		}
		if len(out.Peers) != 2 {
			t.Fatalf("same-family answer %+v, want peers 2 and 3", out.Peers)
		}
	})
	t.Run("silent peers expire", func(t *testing.T) {
		s := newStore(t, 2*time.Second)
		h := hashOf(8)
		announce(t, s, h, 1, v4(1), tracker.EventStarted, false, 0)
		deadline := time.Now().Add(15 * time.Second)
		for {
			out := make([]tracker.ScrapeStats, 1)
			if err := s.Scrape(ctx, [][20]byte{h}, out); err != nil {
				t.Fatal(err)
			}
			if out[0].Incomplete == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("peer still listed 15s after a 2s timeout: %+v", out[0])
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st, _ := s.Stats(ctx); st.Swarms != 0 {
			t.Fatalf("expired swarm still counted: %+v", st)
		}
	})
	t.Run("a big swarm keeps identities straight", func(t *testing.T) {
		s := newStore(t, time.Hour)
		h := hashOf(9)
		for i := range 200 {
			announce(t, s, h, i, v4(i), tracker.EventStarted, false, 0)
		}
		for i := 0; i < 200; i += 2 {
			announce(t, s, h, i, v4(i), tracker.EventStopped, false, 0)
		}
		for i := 1; i < 200; i += 4 {
			announce(t, s, h, i, v4(i), tracker.EventCompleted, true, 0)
		}
		res := announce(t, s, h, 1, v4(1), tracker.EventNone, true, 500)
		if res.Complete != 50 || res.Incomplete != 50 || len(res.Peers) != 99 {
			t.Fatalf("got %d seeders, %d leechers, %d peers; want 50, 50, 99", res.Complete, res.Incomplete, len(res.Peers))
		}
		for _, p := range res.Peers {
			var n int
			fmt.Sscanf(string(p.ID[8:]), "%d", &n)
			if n%2 == 0 || p.Addr != v4(n) {
				t.Fatalf("peer %d at %v should be gone or elsewhere", n, p.Addr)
			}
		}
	})
}
