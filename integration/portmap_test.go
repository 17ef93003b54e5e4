package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/internal/netemu"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/mount"
	"github.com/torfs/torfs/wire"
)

// The test in this file runs torfs seed behind a real home router:
// Debian's miniupnpd in a "router" network namespace, 10.78.0.1 on the
// LAN side and 11.0.0.1 on the outside, with torfs in a "client"
// namespace (10.78.0.2) whose default gateway it is, and a peer in an
// "outside" namespace (11.0.0.2) on the router's WAN side. Veth pairs
// join the three namespaces and nothing else: no packet leaves them.
// 11.0.0.1 is public address space because miniupnpd maps nothing
// behind a private or reserved external address; no packet to it can
// leave the namespaces either.
var (
	routerLAN   = netip.MustParseAddr("10.78.0.1")
	routerWAN   = netip.MustParseAddr("11.0.0.1")
	clientAddr  = netip.MustParseAddr("10.78.0.2")
	outsideAddr = netip.MustParseAddr("11.0.0.2")
)

const miniupnpdPath = "/usr/sbin/miniupnpd"

// TestPortMapBehindMiniupnpd: torfs seed on a LAN behind miniupnpd maps
// its port, TCP and UDP, by UPnP IGD (miniupnpd with NAT-PMP off) and
// by NAT-PMP (UPnP off); a peer outside connects through the router's
// external address; the mapping is renewed before its lease (shortened
// to 6 s) ends; and it is gone when torfs exits. Then torfs mount maps
// its port the same way and its status page says so.
func TestPortMapBehindMiniupnpd(t *testing.T) {
	for _, via := range []string{"UPnP IGD", "NAT-PMP"} {
		t.Run(strings.ReplaceAll(via, " ", "-"), func(t *testing.T) {
			t.Parallel()
			testPortMap(t, via)
		})
	}
}

func testPortMap(t *testing.T, via string) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run the tests as root (CI does)")
	}
	harness.Require(t, miniupnpdPath, "nft", "ip")
	ctx := harness.Context(t, 2*time.Minute)
	router, client, outside := lanBehindRouter(t, ctx)

	upnp, natpmp := via == "UPnP IGD", via == "NAT-PMP"
	conf := filepath.Join(t.TempDir(), "miniupnpd.conf")
	writeFile(t, conf, fmt.Sprintf(`ext_ifname=wan0
listening_ip=lan0
port=0
enable_upnp=%s
enable_natpmp=%s
secure_mode=no
system_uptime=yes
uuid=3f2c5a4e-1b6d-4c8e-9a7f-0d1e2f3a4b5c
allow 1024-65535 %s/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`, yesNo(upnp), yesNo(natpmp), clientAddr))
	mu := harness.Start(t, harness.InNetns(router.Name, harness.Command{Path: miniupnpdPath, Name: "miniupnpd",
		Args: []string{"-f", conf, "-d", "-4", "-P", filepath.Join(t.TempDir(), "miniupnpd.pid")}}))
	ready := "HTTP listening on port"
	if natpmp {
		ready = "Listening for NAT-PMP"
	}
	if _, err := mu.WaitOutput(ctx, ready); err != nil {
		t.Fatal(err)
	}

	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "album.flac"), 1<<20+7, 16)
	torrent := harness.MakeTorrent(t, filepath.Join(src, "album.flac"), harness.TorrentOptions{})
	bin := harness.BuildTorfs(t)
	seed := harness.Start(t, harness.InNetns(client.Name, harness.Command{Path: bin, Env: []string{"TORFS_PORTMAP_LEASE=6s"}, Args: []string{
		"seed", "-v", "--no-dht", "--data", filepath.Join(src, "album.flac"),
		"--listen", netip.AddrPortFrom(clientAddr, 0).String(), torrent,
	}}))
	line, err := seed.WaitOutput(ctx, "press Ctrl-C")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(` on \S+:(\d+); press`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("torfs seed printed %q", line)
	}
	port, _ := strconv.Atoi(m[1])

	line, err = seed.WaitOutput(ctx, `msg="port mapped"`)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("mapped by %s at %s: %s:%d (TCP, UDP)", via, routerLAN, routerWAN, port)
	if !strings.Contains(line, want) {
		t.Fatalf("torfs logged %q, want it to say %q", line, want)
	}
	if rules := forwards(t, ctx, router, port); rules != 2 {
		t.Fatalf("the router forwards %d protocols of port %d, want 2 (TCP and UDP)", rules, port)
	}

	// A peer outside reaches the seeder through the router.
	handshakeThrough(t, outside, netip.AddrPortFrom(routerWAN, uint16(port)), harness.InfoHash(t, torrent))

	// Two renewals of the 6 s lease, and the mapping still holds.
	request := fmt.Sprintf("AddPortMapping: ext port %d to %s:%d protocol TCP", port, clientAddr, port)
	if natpmp {
		request = fmt.Sprintf("NAT-PMP port mapping request : %d->%s:%d tcp", port, clientAddr, port)
	}
	testutil.Eventually(t, "two renewals of the TCP mapping", func() bool {
		return strings.Count(mu.Stderr()+mu.Stdout(), request) >= 3
	})
	if rules := forwards(t, ctx, router, port); rules != 2 {
		t.Fatalf("after two renewals the router forwards %d protocols of port %d, want 2", rules, port)
	}

	if err := seed.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := seed.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("torfs seed exited %d (%v):\n%s", code, err, seed.Output())
	}
	if !strings.Contains(seed.Stderr(), `msg="port mapping removed"`) {
		t.Errorf("torfs did not say it removed the mapping:\n%s", seed.Output())
	}
	if rules := forwards(t, ctx, router, port); rules != 0 {
		t.Errorf("after torfs exited the router still forwards %d protocols of port %d", rules, port)
	}

	mountShowsMapping(t, ctx, bin, torrent, router, client, via)
}

// mountShowsMapping: torfs mount in the client maps its port too, and
// its status page says so, and by what; the mapping goes with the
// mount. (ip netns exec gives the mount a mount namespace of its own,
// so the status page is read at the address the mount printed, from
// inside the client.)
func mountShowsMapping(t *testing.T, ctx context.Context, bin, torrent string, router, client *netemu.Namespace, via string) {
	harness.Require(t, "/dev/fuse")
	p := harness.Start(t, harness.InNetns(client.Name, harness.Command{Path: bin, Args: []string{
		"mount", "--no-dht", "--cache-dir", t.TempDir(), "--listen", netip.AddrPortFrom(clientAddr, 0).String(), torrent, t.TempDir(),
	}}))
	line, err := p.WaitOutput(ctx, "mounted ")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`status http://([^/]+)/\S*; peers connect to \S+:(\d+)\)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("torfs mount printed %q", line)
	}
	statusAddr := m[1]
	port, _ := strconv.Atoi(m[2])
	var st mount.Status
	testutil.Eventually(t, "the status page showing the port mapped", func() bool {
		st = statusIn(t, client, statusAddr)
		return strings.HasPrefix(st.PortMapping, "mapped by ")
	})
	want := fmt.Sprintf("mapped by %s at %s: %s:%d (TCP, UDP)", via, routerLAN, routerWAN, port)
	if st.PortMapping != want {
		t.Errorf("status port_mapping %q, want %q", st.PortMapping, want)
	}
	if rules := forwards(t, ctx, router, port); rules != 2 {
		t.Errorf("the router forwards %d protocols of the mount's port %d, want 2", rules, port)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("torfs mount exited %d (%v)", code, err)
	}
	if rules := forwards(t, ctx, router, port); rules != 0 {
		t.Errorf("after the unmount the router still forwards %d protocols of port %d", rules, port)
	}
}

// statusIn reads the status page at addr from inside ns: the connection
// is dialed on the namespace's thread, then spoken to from here.
func statusIn(t *testing.T, ns *netemu.Namespace, addr string) mount.Status {
	t.Helper()
	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("status page %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/status.json", nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("status page %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var st mount.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status page %s: %v", addr, err)
	}
	return st
}

// lanBehindRouter makes the three namespaces of this file's tests, wired
// and addressed, with an nftables ruleset in the router that miniupnpd
// fills. They are deleted when the test ends.
func lanBehindRouter(t *testing.T, ctx context.Context) (router, client, outside *netemu.Namespace) {
	t.Helper()
	var id [4]byte
	rand.Read(id[:])
	// netemu's prefix and this process's pid: a later emulated WAN
	// deletes what a killed test left.
	base := fmt.Sprintf("torfs-wan-%d-%s", os.Getpid(), hex.EncodeToString(id[:]))
	ns := func(role string) *netemu.Namespace {
		n, err := netemu.NewNamespace(ctx, base+"-"+role)
		if err != nil {
			t.Fatalf("network namespace: %v", err)
		}
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Errorf("delete the namespace: %v", err)
			}
		})
		return n
	}
	router, client, outside = ns("router"), ns("client"), ns("outside")
	ip := func(n *netemu.Namespace, args ...string) {
		t.Helper()
		if err := n.IP(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	ip(router, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", client.Name)
	ip(router, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", outside.Name)
	for _, side := range []struct {
		n    *netemu.Namespace
		dev  string
		addr netip.Addr
	}{{router, "lan0", routerLAN}, {router, "wan0", routerWAN}, {client, "lan0", clientAddr}, {outside, "wan0", outsideAddr}} {
		ip(side.n, "addr", "add", netip.PrefixFrom(side.addr, 24).String(), "dev", side.dev)
		ip(side.n, "link", "set", side.dev, "up")
	}
	ip(client, "route", "add", "default", "via", routerLAN.String())
	err := router.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0) })
	if err != nil {
		t.Fatalf("turn on forwarding in the router: %v", err)
	}
	// The tables and chains miniupnpd's nftables backend adds its rules
	// to (its defaults: table inet filter; chains miniupnpd,
	// prerouting_miniupnpd and postrouting_miniupnpd).
	rules := filepath.Join(t.TempDir(), "router.nft")
	writeFile(t, rules, `table inet filter {
	chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; jump miniupnpd; }
	chain miniupnpd { }
	chain prerouting { type nat hook prerouting priority -100; policy accept; jump prerouting_miniupnpd; }
	chain postrouting { type nat hook postrouting priority 100; policy accept; jump postrouting_miniupnpd; }
	chain prerouting_miniupnpd { }
	chain postrouting_miniupnpd { }
}
`)
	if out, err := router.Command(ctx, "nft", "-f", rules).CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	return router, client, outside
}

// forwards counts the router's NAT rules that forward its external port
// to the client's same port.
func forwards(t *testing.T, ctx context.Context, router *netemu.Namespace, port int) int {
	t.Helper()
	out, err := router.Command(ctx, "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return strings.Count(string(out), fmt.Sprintf("dport %d dnat ip to %s:%d", port, clientAddr, port))
}

// handshakeThrough connects from ns to addr and checks that a BitTorrent
// peer answers there for infoHash.
func handshakeThrough(t *testing.T, ns *netemu.Namespace, addr netip.AddrPort, infoHash metainfo.Hash) {
	t.Helper()
	var conn net.Conn
	err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr.String(), 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("a peer outside cannot connect to %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	h := wire.Handshake{InfoHash: infoHash}
	copy(h.PeerID[:], "-XX0001-outsidepeer1")
	if err := wire.WriteHandshake(conn, h); err != nil {
		t.Fatal(err)
	}
	got, err := wire.ReadHandshake(conn)
	if err != nil {
		t.Fatalf("no handshake through %s: %v", addr, err)
	}
	if metainfo.Hash(got.InfoHash) != infoHash {
		t.Errorf("the peer at %s answered for %x, want %x", addr, got.InfoHash, infoHash)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
