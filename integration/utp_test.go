package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/utp"
	"github.com/torfs/torfs/wire"
)

// utpPeerScript runs one torrent in libtorrent with TCP switched off, so
// every connection it makes or accepts is uTP: "seed" trusts the data in
// the save directory, "leech" downloads into it and prints "finished". It
// prints its port, then connects to each HOST:PORT read from stdin; it
// exits when stdin closes.
const utpPeerScript = `
import sys, threading, time
import libtorrent as lt
mode, torrent, save = sys.argv[1], sys.argv[2], sys.argv[3]
s = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_outgoing_tcp": False, "enable_incoming_tcp": False,
    "enable_outgoing_utp": True, "enable_incoming_utp": True,
    "out_enc_policy": 2, "in_enc_policy": 2, "allow_multiple_connections_per_ip": True,
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "alert_mask": lt.alert.category_t.all_categories,
})
params = {"ti": lt.torrent_info(torrent), "save_path": save}
if mode == "seed":
    params["flags"] = lt.torrent_flags.seed_mode
h = s.add_torrent(params)
deadline = time.time() + 30
while not s.is_listening() and time.time() < deadline:
    s.wait_for_alert(100)
    s.pop_alerts()
# A torrent still checking hangs up on peers: wait until it is ready.
while h.status().state not in (lt.torrent_status.downloading, lt.torrent_status.finished, lt.torrent_status.seeding) and time.time() < deadline:
    s.wait_for_alert(100)
    s.pop_alerts()
print("port", s.listen_port(), flush=True)
def log():
    while True:
        s.wait_for_alert(200)
        for a in s.pop_alerts():
            if isinstance(a, (lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert)):
                print("alert", a.message(), flush=True)
            if isinstance(a, lt.torrent_finished_alert) and mode == "leech":
                print("finished", flush=True)
threading.Thread(target=log, daemon=True).start()
for line in sys.stdin:
    host, port = line.strip().rsplit(":", 1)
    h.connect_peer((host, int(port)))
`

// startUTPPeer runs utpPeerScript and returns its uTP port, a writer for
// "HOST:PORT" lines it should connect to, and a channel closed when a
// leecher has finished.
func startUTPPeer(t *testing.T, mode, torrent, save string) (netip.AddrPort, io.Writer, <-chan struct{}) {
	t.Helper()
	harness.Require(t, "python3-libtorrent")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, harness.Python, "-c", utpPeerScript, mode, torrent, save)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1) // its port line
	finished := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		portSeen, finishSeen := false, false
		for sc.Scan() {
			line := sc.Text()
			if line == "finished" && !finishSeen {
				finishSeen = true
				close(finished)
			}
			if strings.HasPrefix(line, "port ") && !portSeen {
				portSeen = true
				lines <- line
			}
			t.Log("libtorrent:", line)
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		cmd.Wait()
		<-read // no t.Log after the test
	})
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l := <-lines:
			if p, ok := strings.CutPrefix(l, "port "); ok {
				port, err := strconv.Atoi(p)
				if err != nil || port == 0 {
					t.Fatalf("libtorrent reported port %q", p)
				}
				return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)), stdin, finished
			}
		case <-timeout:
			t.Fatal("libtorrent did not report its port within 60 s")
		}
	}
}

// readUntilPieces reads messages after the handshake until the seeder's
// bitfield or have-all: proof that a whole message got through intact.
func readUntilPieces(c net.Conn) error {
	for {
		var lenBuf [4]byte
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return fmt.Errorf("reading a message length: %w", err)
		}
		n := binary.BigEndian.Uint32(lenBuf[:])
		if n == 0 {
			continue // keepalive
		}
		if n > 1<<20 {
			return fmt.Errorf("message of %d bytes", n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return fmt.Errorf("reading a message: %w", err)
		}
		switch msg[0] {
		case 5, 14: // bitfield, have all
			return nil
		}
	}
}

// downloadAll asks for every 16 KiB block of a single-file torrent of size
// bytes (piece length 256 KiB, mktorrent's default here) and returns the
// file as received.
func downloadAll(c net.Conn, size int) ([]byte, error) {
	const block, pieceLen = 16 << 10, 256 << 10
	if _, err := c.Write([]byte{0, 0, 0, 1, 2}); err != nil { // interested
		return nil, err
	}
	if err := readUntil(c, 1, nil); err != nil { // unchoke
		return nil, err
	}
	var reqs []byte
	for off := 0; off < size; off += block {
		reqs = binary.BigEndian.AppendUint32(reqs, 13)
		reqs = append(reqs, 6)
		reqs = binary.BigEndian.AppendUint32(reqs, uint32(off/pieceLen))
		reqs = binary.BigEndian.AppendUint32(reqs, uint32(off%pieceLen))
		reqs = binary.BigEndian.AppendUint32(reqs, block)
	}
	if _, err := c.Write(reqs); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	for n := 0; n < size; n += block {
		err := readUntil(c, 7, func(msg []byte) error {
			if len(msg) != 9+block {
				return fmt.Errorf("piece message of %d bytes", len(msg))
			}
			off := int(binary.BigEndian.Uint32(msg[1:]))*pieceLen + int(binary.BigEndian.Uint32(msg[5:]))
			if off < 0 || off+block > size {
				return fmt.Errorf("block at %d", off)
			}
			copy(out[off:], msg[9:])
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readUntil reads messages until one with the given id, which it hands to
// f.
func readUntil(c net.Conn, id byte, f func([]byte) error) error {
	for {
		var lenBuf [4]byte
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return fmt.Errorf("reading a message length: %w", err)
		}
		n := binary.BigEndian.Uint32(lenBuf[:])
		if n > 1<<20 {
			return fmt.Errorf("message of %d bytes", n)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(c, msg); err != nil {
			return fmt.Errorf("reading a message: %w", err)
		}
		if n > 0 && msg[0] == id {
			if f != nil {
				return f(msg)
			}
			return nil
		}
	}
}

func TestUTPInteropLibtorrent(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "payload")
	const fileSize = 4 << 20
	harness.RandomFile(t, data, fileSize, 16)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	ih := harness.InfoHash(t, torrent)
	ltAddr, connect, _ := startUTPPeer(t, "seed", torrent, dir)

	sock, err := utp.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var ours wire.Handshake
	ours.InfoHash = ih
	copy(ours.PeerID[:], "-TF0000-utp-interop!")

	t.Run("dial", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := sock.Dial(ctx, ltAddr)
		if err != nil {
			t.Fatalf("dialing libtorrent over uTP: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := wire.WriteHandshake(c, ours); err != nil {
			t.Fatal(err)
		}
		theirs, err := wire.ReadHandshake(c)
		if err != nil {
			t.Fatal(err)
		}
		if theirs.InfoHash != ih || !strings.HasPrefix(string(theirs.PeerID[:]), "-LT") {
			t.Fatalf("handshake from libtorrent: info-hash %x peer id %q", theirs.InfoHash, theirs.PeerID)
		}
		if err := readUntilPieces(c); err != nil {
			t.Fatal(err)
		}
		// Bulk data the other way, paced by libtorrent's uTP: download
		// the whole file block by block and compare it.
		got, err := downloadAll(c, fileSize)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(data)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("the blocks libtorrent sent over uTP differ from the file")
		}
	})

	t.Run("accept", func(t *testing.T) {
		// A socket of its own: libtorrent waits before it reconnects to
		// an address it was connected to.
		sock, err := utp.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		if _, err := fmt.Fprintf(connect, "%s\n", sock.AddrPort()); err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := sock.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		var c net.Conn
		select {
		case c = <-accepted:
		case <-time.After(60 * time.Second):
			t.Fatal("libtorrent did not connect over uTP within 60 s")
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		theirs, err := wire.ReadHandshake(c)
		if err != nil {
			t.Fatal(err)
		}
		if theirs.InfoHash != ih {
			t.Fatalf("libtorrent asked for %x, want %x", theirs.InfoHash, ih)
		}
		// Another peer id: libtorrent drops a second connection from the
		// same one.
		ours := ours
		copy(ours.PeerID[:], "-TF0000-utp-accept!!")
		if err := wire.WriteHandshake(c, ours); err != nil {
			t.Fatal(err)
		}
		if err := readUntilPieces(c); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUTPUploadToLibtorrent serves a file to a libtorrent leecher that has
// TCP off: bulk data paced by our LEDBAT and libtorrent's acks.
func TestUTPUploadToLibtorrent(t *testing.T) {
	const size, block, pieceLen = 4 << 20, 16 << 10, 256 << 10
	dir := t.TempDir()
	data := filepath.Join(dir, "payload")
	harness.RandomFile(t, data, size, 17)
	want, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	ih := harness.InfoHash(t, torrent)
	leechDir := t.TempDir()
	_, connect, finished := startUTPPeer(t, "leech", torrent, leechDir)

	sock, err := utp.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if _, err := fmt.Fprintf(connect, "%s\n", sock.AddrPort()); err != nil {
		t.Fatal(err)
	}
	// An Accept that libtorrent never answers ends with the socket.
	stopAccept := context.AfterFunc(harness.Context(t, time.Minute), func() { sock.Close() })
	c, err := sock.Accept()
	stopAccept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	theirs, err := wire.ReadHandshake(c)
	if err != nil {
		t.Fatal(err)
	}
	if theirs.InfoHash != ih {
		t.Fatalf("libtorrent asked for %x, want %x", theirs.InfoHash, ih)
	}
	ours := wire.Handshake{InfoHash: ih}
	copy(ours.PeerID[:], "-TF0000-utp-upload!!")
	if err := wire.WriteHandshake(c, ours); err != nil {
		t.Fatal(err)
	}
	// Bitfield (all 16 pieces) and unchoke, then answer requests.
	if _, err := c.Write([]byte{0, 0, 0, 3, 5, 0xff, 0xff, 0, 0, 0, 1, 1}); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		for {
			err := readUntil(c, 6, func(msg []byte) error {
				if len(msg) != 13 {
					return fmt.Errorf("request of %d bytes", len(msg))
				}
				idx, begin, n := binary.BigEndian.Uint32(msg[1:]), binary.BigEndian.Uint32(msg[5:]), binary.BigEndian.Uint32(msg[9:])
				off := int(idx)*pieceLen + int(begin)
				if n > block || off < 0 || off+int(n) > size {
					return fmt.Errorf("request for %d bytes at %d", n, off)
				}
				piece := binary.BigEndian.AppendUint32(nil, 9+n)
				piece = append(piece, 7)
				piece = append(piece, msg[1:9]...)
				piece = append(piece, want[off:off+int(n)]...)
				_, err := c.Write(piece)
				return err
			})
			if err != nil {
				served <- err
				return
			}
		}
	}()
	timeout := time.After(60 * time.Second)
	select {
	case <-finished:
	case err := <-served:
		// A finished libtorrent hangs up on a fellow seed, sometimes
		// before its alert thread prints "finished".
		if !errors.Is(err, io.EOF) {
			t.Fatalf("serving libtorrent: %v", err)
		}
		select {
		case <-finished:
		case <-timeout:
			t.Fatal("libtorrent hung up and did not finish within 60 s")
		}
	case <-timeout:
		t.Fatal("libtorrent did not finish within 60 s")
	}
	harness.AssertSameFile(t, data, filepath.Join(leechDir, "payload"))
}

// TestUTPGetFromLibtorrent: torfs get downloads from a libtorrent seeder
// with TCP off, so every byte comes over torfs's uTP transport.
func TestUTPGetFromLibtorrent(t *testing.T) {
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	data := filepath.Join(src, "payload")
	harness.RandomFile(t, data, 24<<20+777, 18)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	seeder, _, _ := startUTPPeer(t, "seed", torrent, src)

	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", "--peer", seeder.String(), torrent)
	harness.AssertSameFile(t, data, filepath.Join(out, "payload"))
}

// TestUTPOnlyTorfsToTorfs: torfs seed --no-tcp listens on uTP alone, so
// torfs get --no-tcp can only reach it over uTP; and the two flags
// together are refused.
func TestUTPOnlyTorfsToTorfs(t *testing.T) {
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	data := filepath.Join(src, "payload")
	harness.RandomFile(t, data, 32<<20+333, 19)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	seed := startSeed(t, bin, data, torrent, "--no-dht", "--no-tcp")
	if c, err := net.DialTimeout("tcp", seed, 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("torfs seed --no-tcp accepts TCP on %s", seed)
	}
	out := t.TempDir()
	harness.RunTorfs(t, bin, "get", "--no-dht", "--no-tcp", "-o", out, "--listen", "127.0.0.1:0", "--peer", seed, torrent)
	harness.AssertSameFile(t, data, filepath.Join(out, "payload"))

	r := harness.Run(t, harness.Command{Path: bin, Args: []string{"get", "--no-utp", "--no-tcp", "-o", out, torrent}})
	if r.Code != 2 || !strings.Contains(r.Stderr, "no way to reach peers") {
		t.Errorf("get --no-utp --no-tcp: %v", r)
	}
}

// TestUTPSeedToLibtorrent: a libtorrent leecher with TCP off downloads
// 64 MiB from torfs seed, every byte over torfs's uTP.
func TestUTPSeedToLibtorrent(t *testing.T) {
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	data := filepath.Join(src, "payload")
	harness.RandomFile(t, data, 64<<20, 20)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	seed := startSeed(t, bin, data, torrent, "--no-dht")
	leechDir := t.TempDir()
	_, connect, finished := startUTPPeer(t, "leech", torrent, leechDir)
	if _, err := fmt.Fprintf(connect, "%s\n", seed); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	case <-harness.Context(t, 2*time.Minute).Done():
		t.Fatal("the uTP-only libtorrent leecher did not finish within 2 minutes")
	}
	harness.AssertSameFile(t, data, filepath.Join(leechDir, "payload"))
}

// TestUTPMountFromLibtorrent: a mount reads 64 MiB from a libtorrent
// seeder with TCP off.
func TestUTPMountFromLibtorrent(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	data := filepath.Join(src, "payload")
	harness.RandomFile(t, data, 64<<20+5, 21)
	torrent := harness.MakeTorrent(t, data, harness.TorrentOptions{})
	seeder, _, _ := startUTPPeer(t, "seed", torrent, src)
	mnt := t.TempDir()
	harness.CleanupMount(t, mnt)
	p := harness.StartTorfs(t, bin, "mount", "--no-dht", "--listen", "127.0.0.1:0", "--peer", seeder.String(), "--cache-dir", t.TempDir(), torrent, mnt)
	if err := harness.WaitMounted(harness.Context(t, time.Minute), mnt, p); err != nil {
		t.Fatal(err)
	}
	harness.AssertSameFile(t, data, filepath.Join(mnt, "payload"))
}
