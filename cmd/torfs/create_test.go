package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// runTorfs runs the command line in-process and returns exit status,
// stdout and stderr.
func runTorfs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCreateAndInfo(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "sub.txt"), bytes.Repeat([]byte("a"), 40000), 0o644)
	os.WriteFile(filepath.Join(data, "sub", "x"), []byte("xyz"), 0o644)
	os.WriteFile(filepath.Join(data, ".hidden"), nil, 0o644)
	out := filepath.Join(dir, "out.torrent")

	code, stdout, stderr := runTorfs(t, "create", "-o", out, "-a", "http://t1/a", "-a", "udp://t2:80",
		"-l", "16KiB", "--private", "-w", "http://seed/", "-c", "hello", data)
	if code != 0 {
		t.Fatalf("create: exit %d, stderr %q", code, stderr)
	}
	mi, err := metainfo.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, mi.InfoHash.String()) || !strings.Contains(stdout, out) {
		t.Errorf("create output %q lacks the info-hash or path", stdout)
	}
	if mi.Info.PieceLength != 16<<10 || !mi.Info.Private || mi.Comment != "hello" ||
		len(mi.Trackers()) != 2 || !slices.Equal(mi.URLList, []string{"http://seed/"}) {
		t.Errorf("torrent: %+v", mi)
	}

	code, stdout, stderr = runTorfs(t, "info", "--json", out)
	if code != 0 {
		t.Fatalf("info: exit %d, stderr %q", code, stderr)
	}
	var js struct {
		InfoHash    string `json:"info_hash"`
		Name        string
		Length      int64
		PieceLength int64 `json:"piece_length"`
		PieceCount  int   `json:"piece_count"`
		Private     bool
		Files       []struct {
			Path   []string
			Length int64
		}
		Trackers [][]string
		URLList  []string `json:"url_list"`
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatalf("info --json output is not JSON: %v\n%s", err, stdout)
	}
	if js.InfoHash != mi.InfoHash.String() || js.Name != "data" || js.Length != 40003 || js.PieceLength != 16384 ||
		js.PieceCount != 3 || !js.Private || len(js.Files) != 3 || !slices.Equal(js.Files[2].Path, []string{"sub", "x"}) ||
		js.Files[2].Length != 3 || len(js.Trackers) != 2 || js.Trackers[1][0] != "udp://t2:80" || js.URLList[0] != "http://seed/" {
		t.Errorf("info --json = %+v", js)
	}

	code, stdout, _ = runTorfs(t, "info", out)
	for _, want := range []string{mi.InfoHash.String(), "data", "39.1 KiB", "3 pieces of 16.0 KiB", "Private:    yes", "tier 2: udp://t2:80", "http://seed/", "sub/x", "magnet:?xt=urn:btih:" + mi.InfoHash.String()} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("info output lacks %q:\n%s", want, stdout)
		}
	}

	// An existing output is not overwritten without -f.
	code, _, stderr = runTorfs(t, "create", "-o", out, data)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("create over an existing file: exit %d, %q", code, stderr)
	}
	code, _, stderr = runTorfs(t, "create", "-f", "-o", out, data)
	if code != 0 {
		t.Errorf("create -f: exit %d, %q", code, stderr)
	}
}

func TestCreateDefaultOutput(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("movie.mkv", bytes.Repeat([]byte("m"), 100), 0o644)
	if code, _, stderr := runTorfs(t, "create", "movie.mkv"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mi, err := metainfo.Load("movie.mkv.torrent")
	if err != nil {
		t.Fatal(err)
	}
	if mi.Info.MultiFile || mi.Info.Name != "movie.mkv" || mi.Info.PieceLength != 16<<10 || len(mi.Trackers()) != 0 {
		t.Errorf("torrent: %+v", mi.Info)
	}
}

func TestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.torrent")
	os.WriteFile(bad, []byte("d4:infod4:name2:..ee"), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"create"}, 2, "want one PATH"},
		{[]string{"create", "-l", "1000", dir}, 2, "power of two"},
		{[]string{"create", "-l", "lots", dir}, 2, "invalid size"},
		{[]string{"create", "--bogus", dir}, 2, "bogus"},
		{[]string{"create", "-a", "tracker.example:6969", dir}, 2, "udp://"},
		{[]string{"create", "-w", "ftp://mirror/", dir}, 2, "http://"},
		{[]string{"create", filepath.Join(dir, "nope")}, 1, "no such file"},
		{[]string{"info"}, 2, "want one"},
		{[]string{"info", filepath.Join(dir, "nope.torrent")}, 1, "no such file"},
		{[]string{"info", bad}, 1, "unsafe name"},
		{[]string{"info", dir}, 1, "is a directory"},
		{[]string{"info", "magnet:?dn=x"}, 1, "urn:btih"},
	}
	for _, tt := range tests {
		code, _, stderr := runTorfs(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("torfs %q: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") > 1 || strings.Contains(stderr, "goroutine") {
			t.Errorf("torfs %q: error is not one line: %q", tt.args, stderr)
		}
	}
	for _, cmd := range []string{"create", "info"} {
		code, stdout, _ := runTorfs(t, cmd, "--help")
		if code != 0 || !strings.Contains(stdout, "Examples:") {
			t.Errorf("torfs %s --help: exit %d, %q", cmd, code, stdout)
		}
	}
}

// TestCreateV2AndInfo: --hybrid and --v2 make BEP 52 torrents, info shows
// both info-hashes, the version and a magnet link with both; get of a
// v2-only torrent without its piece layers asks the seeder for them.
func TestCreateV2AndInfo(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "sub.txt"), bytes.Repeat([]byte("a"), 40000), 0o644)
	os.WriteFile(filepath.Join(data, "sub", "x"), []byte("xyz"), 0o644)
	hy, v2 := filepath.Join(dir, "hy.torrent"), filepath.Join(dir, "v2.torrent")
	if code, _, stderr := runTorfs(t, "create", "--hybrid", "-l", "16KiB", "-o", hy, data); code != 0 {
		t.Fatalf("create --hybrid: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runTorfs(t, "create", "--v2", "-o", v2, data); code != 0 {
		t.Fatalf("create --v2: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runTorfs(t, "create", "--v2", "--hybrid", "-o", filepath.Join(dir, "x.torrent"), data); code != 2 || !strings.Contains(stderr, "exclude each other") {
		t.Errorf("--v2 --hybrid: exit %d, %s", code, stderr)
	}
	mh, err := metainfo.Load(hy)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := metainfo.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	if mh.Version() != metainfo.Hybrid || m2.Version() != metainfo.V2 {
		t.Fatalf("versions %v %v", mh.Version(), m2.Version())
	}
	_, stdout, _ := runTorfs(t, "info", hy)
	for _, want := range []string{"Info-hash:     " + mh.InfoHash.String(), "Info-hash v2:  " + mh.InfoHashV2.String(), "Version:       hybrid",
		"magnet:?xt=urn:btih:" + mh.InfoHash.String() + "&xt=urn:btmh:1220" + mh.InfoHashV2.String()} {
		if !strings.Contains(stdout, want) {
			t.Errorf("info of a hybrid lacks %q:\n%s", want, stdout)
		}
	}
	_, stdout, _ = runTorfs(t, "info", "--json", v2)
	var js struct {
		InfoHash   string `json:"info_hash"`
		InfoHashV2 string `json:"info_hash_v2"`
		Version    string
		Magnet     string
	}
	if err := json.Unmarshal([]byte(stdout), &js); err != nil {
		t.Fatal(err)
	}
	if js.InfoHashV2 != m2.InfoHashV2.String() || js.Version != "v2" || js.Magnet != "magnet:?xt=urn:btmh:1220"+m2.InfoHashV2.String()+"&dn=data" {
		t.Errorf("info --json of a v2 torrent: %+v", js)
	}
	code, stdout, _ := runTorfs(t, "info", "--no-resolve", js.Magnet)
	if code != 0 || !strings.Contains(stdout, "Info-hash v2:  "+m2.InfoHashV2.String()) || strings.Contains(stdout, "Info-hash: ") {
		t.Errorf("info --no-resolve of a v2 link: exit %d\n%s", code, stdout)
	}
	// One whose piece layers leave a file out gets the hashes missing
	// from a peer (BEP 52 hash requests), then downloads and verifies.
	getV2WithoutLayers(t, v2, m2, data, false)
	// A v2 link is looked up under its truncated hash.
	code, _, stderr := runTorfs(t, "info", "--no-dht", "--timeout", "300ms", "--peer", "127.0.0.1:1", js.Magnet)
	if code != 1 || !strings.Contains(stderr, "could not connect") {
		t.Errorf("resolving a v2-only link: exit %d, %s", code, stderr)
	}
}

// getV2WithoutLayers seeds the v2-only torrent file full (mi) from data
// with torfs seed, and downloads with torfs get a copy of it without any
// piece layers: get asks the seeder for them and writes the same bytes.
// With seedBare the seeder is given that copy too, and computes the
// layers from the data.
func getV2WithoutLayers(t *testing.T, full string, mi *metainfo.MetaInfo, data string, seedBare bool) {
	t.Helper()
	if len(mi.PieceLayers) == 0 {
		t.Fatalf("%s has no piece layer to leave out", full)
	}
	bare := *mi
	bare.PieceLayers = nil
	enc, err := bare.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	partial := filepath.Join(dir, "partial.torrent")
	if err := os.WriteFile(partial, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	seedFile := full
	if seedBare {
		seedFile = partial
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr testutil.Buffer
	code := make(chan int, 1)
	sctx, stop := context.WithCancel(ctx)
	defer func() { stop(); <-code }()
	go func() {
		code <- run(sctx, []string{"seed", "--no-dht", "--listen", "127.0.0.1:0", "--data", data, seedFile}, &stdout, &stderr)
	}()
	var addr string
	for addr == "" {
		if _, rest, ok := strings.Cut(stdout.String(), " pieces) on "); ok {
			addr, _, _ = strings.Cut(rest, ";")
			break
		}
		select {
		case c := <-code:
			code <- c
			t.Fatalf("torfs seed exited %d before seeding:\n%s", c, stderr.String())
		case <-ctx.Done():
			t.Fatalf("torfs seed never started seeding:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if seedBare && !strings.Contains(stderr.String(), "computed the piece hashes the .torrent leaves out") {
		t.Errorf("torfs seed of a .torrent without piece layers did not say it computed them:\n%s", stderr.String())
	}
	out := filepath.Join(dir, "out")
	c, _, errs := runTorfs(t, "get", "--no-dht", "--peer", addr, "-o", out, partial)
	if c != 0 || !strings.Contains(errs, "piece hashes of") {
		t.Fatalf("get of a v2-only torrent without its piece layers: exit %d, %s", c, errs)
	}
	for _, f := range mi.Info.Files {
		if f.Pad {
			continue
		}
		want, err := os.ReadFile(filepath.Join(append([]string{data}, f.Path...)...))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(append([]string{out, mi.Info.Name}, f.Path...)...))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("downloaded %s differs (%d bytes, want %d): %v", filepath.Join(f.Path...), len(got), len(want), err)
		}
	}
}

// TestSeedV2WithoutLayers: torfs seed of a v2-only .torrent without its
// piece layers computes them from the data, and serves them to a get of
// the same .torrent; data that is not the torrent's is refused, saying
// which file.
func TestSeedV2WithoutLayers(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	big := make([]byte, 100000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(data, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(data, "sub", "x"), []byte("xyz"), 0o644)
	v2 := filepath.Join(dir, "v2.torrent")
	if code, _, stderr := runTorfs(t, "create", "--v2", "-l", "16KiB", "-o", v2, data); code != 0 {
		t.Fatalf("create --v2: exit %d, %s", code, stderr)
	}
	mi, err := metainfo.Load(v2)
	if err != nil {
		t.Fatal(err)
	}
	getV2WithoutLayers(t, v2, mi, data, true)

	// The same size, other bytes: no layer to trust.
	bare := *mi
	bare.PieceLayers = nil
	enc, err := bare.Encode()
	if err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, "partial.torrent")
	if err := os.WriteFile(partial, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	big[50000]++
	os.WriteFile(filepath.Join(data, "big.bin"), big, 0o644)
	code, _, stderr := runTorfs(t, "seed", "--no-dht", "--listen", "127.0.0.1:0", "--data", data, partial)
	if code != 1 || !strings.Contains(stderr, "v2-only") || !strings.Contains(stderr, filepath.Join(data, "big.bin")+": its content is not the torrent's") {
		t.Errorf("seed of other data without piece layers: exit %d, %s", code, stderr)
	}
}
