package dht

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// testConfig is a node on loopback with no rate limit (every test node
// shares 127.0.0.1). Its query timeout is the default's: 500 ms failed a
// bootstrap now and then on a loaded 2-core machine running -race, where
// a live node can take that long to answer.
func testConfig(addr string, bootstrap ...string) Config {
	return Config{Addr: addr, Bootstrap: append([]string{}, bootstrap...), QueryRate: -1, QueryTimeout: 2 * time.Second}
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func testContext(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startNetwork starts size nodes on host, all bootstrapped from the first.
func startNetwork(t *testing.T, host string, size int) []*Node {
	t.Helper()
	first := startNode(t, testConfig(host+":0"))
	nodes := []*Node{first}
	for range size - 1 {
		nodes = append(nodes, startNode(t, testConfig(host+":0", first.Addr().String())))
	}
	ctx := testContext(t, 20*time.Second)
	// Two rounds: the late joiners of the first round are known to the
	// early ones only after the second.
	for range 2 {
		var wg sync.WaitGroup
		errs := make([]error, size)
		for i, n := range nodes[1:] {
			wg.Go(func() { errs[i] = n.Bootstrap(ctx) })
		}
		wg.Wait()
		for i, err := range errs[:size-1] {
			if err != nil {
				t.Fatalf("node %d: %v", i+1, err)
			}
		}
	}
	return nodes
}

// TestNetworkAnnounceAndLookup: in a DHT of 24 nodes on loopback, peers
// announced by some nodes are found by others, which never talked to the
// announcers directly before.
func TestNetworkAnnounceAndLookup(t *testing.T) {
	t.Parallel()
	nodes := startNetwork(t, "127.0.0.1", 24)
	for i, n := range nodes {
		if got := len(n.Nodes()); got < 8 {
			t.Errorf("node %d knows %d nodes after bootstrap; want at least 8", i, got)
		}
	}
	ctx := testContext(t, 20*time.Second)
	ih := RandomID()
	if _, err := nodes[5].Announce(ctx, ih, 4242); err != nil {
		t.Fatal(err)
	}
	// implied_port: the peer is the announcer's UDP address.
	if _, err := nodes[9].Announce(ctx, ih, 0); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4242"), nodes[9].Addr()}
	for _, i := range []int{0, 17, 23} {
		peers, err := nodes[i].GetPeers(ctx, ih)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		for _, w := range want {
			if !slices.Contains(peers, w) {
				t.Errorf("node %d found %v; want it to include %v", i, peers, w)
			}
		}
	}
	// The peers were stored on the nodes nearest to the info-hash.
	stored := 0
	for _, n := range nodes {
		n.mu.Lock()
		stored += len(n.peers.m[ih])
		n.mu.Unlock()
	}
	if stored < 2*3 {
		t.Errorf("the two peers are stored %d times in the network; want at least 3 copies each", stored)
	}
	// An info-hash nobody announced has no peers, and that is no error.
	peers, err := nodes[3].GetPeers(ctx, RandomID())
	if err != nil || len(peers) != 0 {
		t.Errorf("GetPeers(unknown) = %v, %v; want no peers and no error", peers, err)
	}
}

// TestIPv6Network: BEP 32 nodes on ::1 find each other and announce.
func TestIPv6Network(t *testing.T) {
	t.Parallel()
	if c, err := New(testConfig("[::1]:0")); err != nil {
		t.Fatalf("this machine has no ::1 (%v); IPv6 loopback is required", err)
	} else {
		c.Close()
	}
	nodes := startNetwork(t, "[::1]", 6)
	ctx := testContext(t, 10*time.Second)
	ih := RandomID()
	if _, err := nodes[1].Announce(ctx, ih, 6881); err != nil {
		t.Fatal(err)
	}
	peers, err := nodes[4].GetPeers(ctx, ih)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddrPort("[::1]:6881"); !slices.Contains(peers, want) {
		t.Errorf("found %v; want %v", peers, want)
	}
	for _, n := range nodes[4].Nodes() {
		if !n.Addr.Addr().Is6() {
			t.Errorf("IPv6 node's table holds %v", n.Addr)
		}
	}
}

// TestStateSurvivesRestart: a node saves its ID and table at Close and
// rejoins from them alone.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	nodes := startNetwork(t, "127.0.0.1", 5)
	state := t.TempDir() + "/dht.state"
	cfg := testConfig("127.0.0.1:0", nodes[0].Addr().String())
	cfg.StateFile = state
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 10*time.Second)
	if err := n.Bootstrap(ctx); err != nil {
		n.Close()
		t.Fatal(err)
	}
	id, known := n.ID(), len(n.Nodes())
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	again := startNode(t, Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, StateFile: state, QueryRate: -1})
	if again.ID() != id {
		t.Errorf("restarted node has ID %v; want the saved %v", again.ID(), id)
	}
	if got := len(again.Nodes()); got != known {
		t.Errorf("restarted node knows %d nodes; want the %d saved", got, known)
	}
	if err := again.Bootstrap(ctx); err != nil {
		t.Errorf("bootstrap from the saved table alone: %v", err)
	}
}

// TestQueryEndsWithContextAndClose: a query to a silent address returns
// when its context ends, and on a closed node at once.
func TestQueryEndsWithContextAndClose(t *testing.T) {
	t.Parallel()
	silent := startNode(t, testConfig("127.0.0.1:0"))
	silentAddr := silent.Addr()
	silent.Close() // nothing answers there now
	cfg := testConfig("127.0.0.1:0")
	cfg.QueryTimeout = time.Hour
	n := startNode(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := n.Ping(ctx, silentAddr); done <- err }()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Ping after cancel = %v; want context.Canceled", err)
	}
	go func() { _, err := n.Ping(context.Background(), silentAddr); done <- err }()
	n.Close()
	if err := <-done; err == nil {
		t.Error("Ping on a closing node succeeded")
	}
	if _, err := n.GetPeers(context.Background(), RandomID()); err == nil {
		t.Error("GetPeers on a closed node succeeded")
	}
}

// TestAddNodes: nodes named by a torrent join the table when they answer;
// names that do not resolve or do not answer are skipped.
func TestAddNodes(t *testing.T) {
	t.Parallel()
	a := startNode(t, testConfig("127.0.0.1:0"))
	b := startNode(t, testConfig("127.0.0.1:0"))
	dead := startNode(t, testConfig("127.0.0.1:0"))
	deadAddr := dead.Addr().String()
	dead.Close()
	n := startNode(t, testConfig("127.0.0.1:0"))
	got := n.AddNodes(testContext(t, 10*time.Second), a.Addr().String(), b.Addr().String(), deadAddr, "not a host port")
	if got != 2 {
		t.Errorf("AddNodes = %d; want the 2 live nodes", got)
	}
	table := n.Nodes()
	if len(table) != 2 || !containsNode(table, NodeInfo{a.ID(), a.Addr()}) || !containsNode(table, NodeInfo{b.ID(), b.Addr()}) {
		t.Errorf("table = %v; want exactly the two live nodes", table)
	}
}
