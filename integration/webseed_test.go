package integration

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// serveDir serves dir over HTTP on loopback. http.FileServer answers range
// requests (http.ServeContent), as a web seed must.
func serveDir(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// webSeedTorrent writes a .torrent for path with web seed url using torfs
// create.
func webSeedTorrent(t *testing.T, bin, path, url string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".torrent")
	harness.RunTorfs(t, bin, "create", "-o", out, "-l", "64KiB", "-w", url, path)
	return out
}

// TestWebSeedGet: torrents whose only source is a loopback web seed
// download completely, single-file (URL naming the file) and multi-file
// (URL of the directory above the torrent's root, with names that need
// escaping and pieces that span several files).
func TestWebSeedGet(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "disk.img"), 5<<20+123, 81)
	spec := append(harness.MixedTree(64<<10), harness.FileSpec{Path: "sp ace/h#sh?%.bin", Size: 70000})
	harness.RandomTree(t, filepath.Join(src, "tree"), spec, 82)
	url := serveDir(t, src)

	torrent := webSeedTorrent(t, bin, filepath.Join(src, "disk.img"), url+"/disk.img")
	out := t.TempDir()
	r := harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", torrent)
	harness.AssertSameFile(t, filepath.Join(src, "disk.img"), filepath.Join(out, "disk.img"))
	if m := regexp.MustCompile(`received (\d+) bytes`).FindStringSubmatch(r.Stdout); m == nil || m[1] != "5243003" {
		t.Errorf("single-file get output: %s", r.Stdout)
	}

	torrent = webSeedTorrent(t, bin, filepath.Join(src, "tree"), url+"/")
	out = t.TempDir()
	harness.RunTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", torrent)
	harness.AssertSameTree(t, spec, filepath.Join(src, "tree"), filepath.Join(out, "tree"))
}

// TestWebSeedCorruptIsDropped: a web seed serving a file with one bad
// piece is dropped with an error naming it, and the bad bytes never reach
// the output file.
func TestWebSeedCorruptIsDropped(t *testing.T) {
	t.Parallel()
	bin := harness.BuildTorfs(t)
	good, bad := t.TempDir(), t.TempDir()
	harness.RandomFile(t, filepath.Join(good, "disk.img"), 2<<20, 83)
	torrent := webSeedTorrent(t, bin, filepath.Join(good, "disk.img"), serveDir(t, bad)+"/disk.img")
	data, err := os.ReadFile(filepath.Join(good, "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	const piece = 64 << 10
	wrong := bytes.Repeat([]byte{0xa5}, piece)
	copy(data[5*piece:], wrong) // piece 5 is garbage
	if err := os.WriteFile(filepath.Join(bad, "disk.img"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	p := harness.StartTorfs(t, bin, "get", "-o", out, "--listen", "127.0.0.1:0", torrent)
	ctx := harness.Context(t, time.Minute)
	if err := waitMatch(ctx, p, regexp.MustCompile(`level=ERROR msg="web seed sent data that fails the piece hash.*url=\S*/disk.img`)); err != nil {
		t.Fatal(err)
	}
	if code, exited := p.Exited(); exited {
		t.Fatalf("torfs get exited %d with a corrupt web seed as its only source", code)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, "disk.img"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if bytes.Contains(got, wrong[:4096]) {
		t.Fatal("bytes of the corrupt piece reached the output file")
	}
}

// TestWebSeedMount: a mount whose only source is a web seed reads a file
// in the middle correctly.
func TestWebSeedMount(t *testing.T) {
	t.Parallel()
	harness.Require(t, "/dev/fuse", "fusermount3")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	harness.RandomFile(t, filepath.Join(src, "movie.mkv"), 12<<20+7, 84)
	torrent := webSeedTorrent(t, bin, filepath.Join(src, "movie.mkv"), serveDir(t, src)+"/")
	mnt := t.TempDir()
	mountTorfs(t, bin, torrent, mnt, "--listen", "127.0.0.1:0", "--cache-dir", t.TempDir())
	want, err := os.ReadFile(filepath.Join(src, "movie.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(mnt, "movie.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 300000)
	off := int64(7<<20 + 1234)
	if n, err := f.ReadAt(buf, off); err != nil || n != len(buf) {
		t.Fatalf("read through the mount: %d, %v", n, err)
	}
	if !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
		t.Fatal("the mount returned wrong bytes")
	}
}
