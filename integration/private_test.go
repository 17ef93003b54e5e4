package integration

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/testutil"
)

// TestPrivateTorrentNoDHT: torfs seed and torfs get of a private torrent
// (BEP 27), both told to bootstrap the DHT from a UDP socket the test
// owns, send that socket nothing: they never start the DHT. torfs seed of
// the same data as a public torrent does send it a query, so the socket
// would have seen one.
func TestPrivateTorrentNoDHT(t *testing.T) {
	t.Parallel()
	boot, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	dhtFlags := []string{"--dht-bootstrap", boot.LocalAddr().String(), "--dht-state", ""}

	src := t.TempDir()
	path := filepath.Join(src, "private.bin")
	harness.RandomFile(t, path, 3<<20+5, 11)
	torrent := harness.MakeTorrent(t, path, harness.TorrentOptions{PieceLength: 64 << 10, Private: true})
	bin := harness.BuildTorfs(t)
	seedAddr := "127.0.0.1:" + strconv.Itoa(harness.FreePort(t))
	seed := harness.StartTorfs(t, bin, append([]string{"seed", "--data", path, "--listen", seedAddr}, append(dhtFlags, torrent)...)...)
	if _, err := seed.WaitOutput(harness.Context(t, time.Minute), "press Ctrl-C"); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	harness.RunTorfs(t, bin, append([]string{"get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seedAddr}, append(dhtFlags, torrent)...)...)
	harness.AssertSameFile(t, path, filepath.Join(out, "private.bin"))
	if err := seed.Stop(); err != nil {
		t.Logf("stopping torfs seed: %v", err)
	}
	// Both processes have exited: whatever they sent is queued on boot.
	if pkts := testutil.QueuedUDP(t, boot); len(pkts) != 0 {
		t.Fatalf("torfs sent the DHT bootstrap node %q for a private torrent", pkts[0])
	}

	public := harness.MakeTorrent(t, path, harness.TorrentOptions{PieceLength: 64 << 10})
	harness.StartTorfs(t, bin, append([]string{"seed", "--data", path, "--listen", "127.0.0.1:0"}, append(dhtFlags, public)...)...)
	boot.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := boot.Read(make([]byte, 1500)); err != nil {
		t.Fatalf("torfs seed of a public torrent sent the DHT bootstrap node nothing either: %v", err)
	}
}
