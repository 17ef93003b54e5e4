package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/metainfo"
)

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestInfoMagnetWithoutNetwork(t *testing.T) {
	const hash = "c0fda1edafdbdbb96443424e0b3899af7159d10e"
	code, out, _ := runTorfs(t, "info", "--no-resolve", "magnet:?xt=urn:btih:"+hash+"&dn=temp&x.pe=127.0.0.1:1")
	if code != 0 || !strings.Contains(out, "temp") || !strings.Contains(out, hash) || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("--no-resolve: exit %d\n%s", code, out)
	}
	code, _, errs := runTorfs(t, "info", "--no-dht", "magnet:?xt=urn:btih:"+hash)
	if code != 2 || !strings.Contains(errs, "no tracker and no peer") {
		t.Fatalf("a magnet with no source and no DHT: exit %d, %s", code, errs)
	}
	code, _, errs = runTorfs(t, "info", "--no-dht", "--timeout", "300ms", "magnet:?xt=urn:btih:"+hash+"&x.pe="+deadAddr(t))
	if code != 1 || !strings.Contains(errs, "could not connect") || !strings.Contains(errs, "gave up after --timeout 300ms") {
		t.Fatalf("an unreachable peer: exit %d, %s", code, errs)
	}
	// A hash nobody has: the error says what was asked.
	code, _, errs = runTorfs(t, "info", "--no-dht", "--timeout", "300ms", "--tracker", "http://"+deadAddr(t)+"/announce", "magnet:?xt=urn:btih:"+hash)
	if code != 1 || !strings.Contains(errs, "no peer found: asked 1 tracker ") || !strings.Contains(errs, "gave up after --timeout 300ms") {
		t.Fatalf("a hash nobody has: exit %d, %s", code, errs)
	}
	if n := strings.Count(errs, hash); n > 1 {
		t.Errorf("the info-hash is printed %d times:\n%s", n, errs)
	}
	code, _, errs = runTorfs(t, "info", "--no-dht", "--dht-bootstrap", "127.0.0.1:1", "magnet:?xt=urn:btih:"+hash)
	if code != 2 || !strings.Contains(errs, "conflicts") {
		t.Fatalf("--no-dht with --dht-bootstrap: exit %d, %s", code, errs)
	}
}

// TestGetMagnetUsesSavedTorrent: a magnet whose .torrent an earlier run
// saved in the output directory is not resolved again.
func TestGetMagnetUsesSavedTorrent(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.bin")
	os.WriteFile(data, bytes.Repeat([]byte("z"), 100000), 0o644)
	torrent := filepath.Join(dir, "data.torrent")
	if code, _, errs := runTorfs(t, "create", "-o", torrent, data); code != 0 {
		t.Fatalf("create: %s", errs)
	}
	mi, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	b, _ := os.ReadFile(torrent)
	os.WriteFile(filepath.Join(out, "."+mi.InfoHash.String()+".torrent"), b, 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"get", "--no-dht", "--listen", "127.0.0.1:0", "-o", out, "magnet:?xt=urn:btih:" + mi.InfoHash.String() + "&x.pe=" + deadAddr(t)}, &stdout, &stderr)
	errs := stderr.String()
	if code != 1 || !strings.Contains(errs, "using the metadata saved") || strings.Contains(errs, "fetching metadata") || !strings.Contains(errs, "interrupted at 0.0%") {
		t.Fatalf("exit %d:\n%s", code, errs)
	}
}

func TestDHTFlagsDefaultState(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	var f dhtFlags
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(os.Getenv("XDG_CACHE_HOME"), "torfs", "dht.state"); cfg.StateFile != want || cfg.Bootstrap != nil {
		t.Fatalf("default DHT config %+v, want state %s and the public routers", cfg, want)
	}
	f = dhtFlags{off: true}
	if cfg, err := f.config(); cfg != nil || err != nil {
		t.Fatalf("--no-dht gives %+v, %v", cfg, err)
	}
}

// TestGetNeedsAPeerSource: a torrent without trackers needs --peer,
// --tracker or the DHT, and a private one cannot use the DHT.
func TestGetNeedsAPeerSource(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	data := filepath.Join(dir, "data.bin")
	os.WriteFile(data, []byte("hello"), 0o644)
	public, private := filepath.Join(dir, "pub.torrent"), filepath.Join(dir, "priv.torrent")
	for _, args := range [][]string{{"create", "-o", public, data}, {"create", "--private", "-o", private, data}} {
		if code, _, errs := runTorfs(t, args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	if code, _, errs := runTorfs(t, "get", "--no-dht", "-o", dir, public); code != 2 || !strings.Contains(errs, "DHT is off") {
		t.Fatalf("public, --no-dht: exit %d, %s", code, errs)
	}
	if code, _, errs := runTorfs(t, "get", "--dht-bootstrap", "127.0.0.1:1", "-o", dir, private); code != 2 || !strings.Contains(errs, "is private") {
		t.Fatalf("private: exit %d, %s", code, errs)
	}
}

// TestResolveProgressWording: the progress of a magnet link's resolve
// speaks of its metadata; that of a .torrent's missing piece hashes
// (ResolveLayers), whose metadata is known, of the piece hashes only.
func TestResolveProgressWording(t *testing.T) {
	m := &metainfo.Magnet{DisplayName: "x"}
	var magnet, layers bytes.Buffer
	newResolveProgress(&magnet, m).update(fetch.ResolveStatus{Peers: 2, Connected: 1})
	p := newResolveProgress(&layers, m)
	p.layers = true
	p.update(fetch.ResolveStatus{Peers: 2, Connected: 1, HashParts: 1, HashPartsTotal: 3})
	if got, want := magnet.String(), "fetching metadata of x: 2 peers known, 1 connected, metadata size unknown\n"; got != want {
		t.Errorf("magnet progress %q, want %q", got, want)
	}
	if got, want := layers.String(), "fetching piece hashes of x: 2 peers known, 1 connected, 1/3 parts\n"; got != want {
		t.Errorf("piece hash progress %q, want %q", got, want)
	}
}
