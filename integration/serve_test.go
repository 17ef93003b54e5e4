package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
)

// makeVideo has ffmpeg write a test-pattern video of secs seconds to
// path (the container from its extension).
func makeVideo(t *testing.T, path string, secs int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	r := harness.Run(t, harness.Command{Path: "ffmpeg", Args: []string{"-v", "error", "-nostdin",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc=duration=%d:size=160x120:rate=10", secs),
		"-c:v", "mpeg4", "-q:v", "8", "-g", "50", path}})
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
}

// TestServeStreamsToFFmpegAndRclone: `torfs serve` of a torrent that
// libtorrent seeds, with no FUSE: ffprobe reads the video's duration over
// HTTP, ffmpeg seeks to 60 s and decodes a frame there, the playlist
// lists both videos, and rclone lists the WebDAV tree and copies a file
// out byte for byte. Ctrl-C then stops torfs serve cleanly.
func TestServeStreamsToFFmpegAndRclone(t *testing.T) {
	harness.Require(t, "python3-libtorrent", "ffmpeg", "ffprobe", "rclone")
	bin := harness.BuildTorfs(t)
	src := t.TempDir()
	root := filepath.Join(src, "media")
	makeVideo(t, filepath.Join(root, "film.mp4"), 70)
	makeVideo(t, filepath.Join(root, "extras", "clip one.mkv"), 5)
	if err := os.WriteFile(filepath.Join(root, "notes.txt"), []byte("notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	torrent := harness.MakeTorrent(t, root, harness.TorrentOptions{PieceLength: 32 << 10})
	seed := harness.StartLibtorrent(t, harness.LibtorrentOptions{Mode: harness.Seed, Torrent: torrent, Save: src})
	if err := seed.WaitFinished(harness.Context(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	hash := harness.InfoHash(t, torrent).String()

	base := fmt.Sprintf("http://127.0.0.1:%d", harness.FreePort(t))
	p := harness.StartTorfs(t, bin, "serve", "--http", strings.TrimPrefix(base, "http://"),
		"--peer", seed.Addr(), "--listen", fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t)),
		"--cache-dir", t.TempDir(), torrent)
	if _, err := p.WaitOutput(harness.Context(t, time.Minute), "serving "); err != nil {
		t.Fatal(err)
	}
	film := base + "/t/" + hash + "/film.mp4"

	r := harness.Run(t, harness.Command{Path: "ffprobe", Args: []string{"-v", "error",
		"-show_entries", "format=duration", "-of", "default=nw=1:nk=1", film}})
	if d, err := strconv.ParseFloat(strings.TrimSpace(r.Stdout), 64); r.Code != 0 || err != nil || d < 69 || d > 71 {
		t.Fatalf("ffprobe of %s: duration %q, want about 70 s: %v", film, r.Stdout, r)
	}
	png := filepath.Join(t.TempDir(), "at60.png")
	r = harness.Run(t, harness.Command{Path: "ffmpeg", Args: []string{"-v", "error", "-nostdin",
		"-ss", "60", "-i", film, "-frames:v", "1", "-y", png}})
	if fi, err := os.Stat(png); r.Code != 0 || err != nil || fi.Size() == 0 {
		t.Fatalf("ffmpeg -ss 60 of %s: %v (%v)", film, r, err)
	}

	resp, err := http.Get(base + "/t/" + hash + ".m3u")
	if err != nil {
		t.Fatal(err)
	}
	m3u, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"#EXTM3U\n", "\n" + film + "\n", "\n" + base + "/t/" + hash + "/extras/clip%20one.mkv\n"} {
		if !strings.Contains(string(m3u), want) {
			t.Errorf("the playlist does not have %q:\n%s", want, m3u)
		}
	}
	if strings.Contains(string(m3u), "notes.txt") {
		t.Errorf("the playlist lists a text file:\n%s", m3u)
	}

	// rclone's on-the-fly WebDAV remote; its config goes to a temporary
	// home.
	dav := `:webdav,url="` + base + `/dav":`
	env := []string{"HOME=" + t.TempDir(), "RCLONE_CONFIG=" + filepath.Join(t.TempDir(), "rclone.conf")}
	r = harness.Run(t, harness.Command{Path: "rclone", Args: []string{"lsf", "-R", dav}, Env: env})
	got := strings.Fields(strings.ReplaceAll(r.Stdout, "clip one", "clip_one"))
	slices.Sort(got)
	want := []string{"media/", "media/extras/", "media/extras/clip_one.mkv", "media/film.mp4", "media/notes.txt"}
	if r.Code != 0 || !slices.Equal(got, want) {
		t.Errorf("rclone lsf -R: %q, want %q\n%v", got, want, r)
	}
	r = harness.Run(t, harness.Command{Path: "rclone", Args: []string{"cat", dav + "media/extras/clip one.mkv"}, Env: env})
	orig, err := os.ReadFile(filepath.Join(root, "extras", "clip one.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 || !bytes.Equal([]byte(r.Stdout), orig) {
		t.Errorf("rclone cat: %d bytes, want the file's %d\n%v", len(r.Stdout), len(orig), r.Stderr)
	}
	r = harness.Run(t, harness.Command{Path: "rclone", Args: []string{"cat", dav + "media/film.mp4"}, Env: env})
	orig, err = os.ReadFile(filepath.Join(root, "film.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 || !bytes.Equal([]byte(r.Stdout), orig) {
		t.Errorf("rclone cat film.mp4: %d bytes, want the file's %d\n%v", len(r.Stdout), len(orig), r.Stderr)
	}
	// Writes are refused (rclone takes a refused MKCOL for an existing
	// directory, so it is asked to write a file and delete one).
	local := filepath.Join(t.TempDir(), "new.txt")
	if err := os.WriteFile(local, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	once := []string{"--retries", "1", "--low-level-retries", "1"}
	for _, args := range [][]string{{"copyto", local, dav + "media/new.txt"}, {"deletefile", dav + "media/notes.txt"}} {
		r = harness.Run(t, harness.Command{Path: "rclone", Args: append(args, once...), Env: env})
		if r.Code == 0 {
			t.Errorf("rclone %s succeeded: %v", args[0], r)
		}
	}
	r = harness.Run(t, harness.Command{Path: "rclone", Args: []string{"lsf", dav + "media"}, Env: env})
	if r.Stdout != "extras/\nfilm.mp4\nnotes.txt\n" {
		t.Errorf("after the refused writes: %q", r.Stdout)
	}

	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code, err := p.Wait(ctx); err != nil || code != 0 {
		t.Fatalf("torfs serve after Ctrl-C: exit %d, %v\n%s", code, err, p.Output())
	}
}

// TestMountHTTPWithToken: `torfs mount --http --http-token` serves the
// mounted files over HTTP from the status server, behind the token, and
// `torfs status` still reads the status page (its URL carries the token).
func TestMountHTTPWithToken(t *testing.T) {
	harness.Require(t, "/dev/fuse", "fusermount3", "python3-libtorrent")
	bin := harness.BuildTorfs(t)
	const pl = 32 << 10
	spec := []harness.FileSpec{{Path: "a/film.mkv", Size: 3<<20 + 1234}, {Path: "b.txt", Size: 5000}}
	src := t.TempDir()
	torrent, seed := seedWith(t, src, "tree", spec, pl)
	hash := harness.InfoHash(t, torrent).String()
	mnt := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	mountTorfs(t, bin, torrent, mnt, "--peer", seed.Addr(), "--cache-dir", t.TempDir(), "--http", addr, "--http-token", "tok")

	st := harness.RunTorfs(t, bin, "status", mnt)
	if !strings.Contains(st.Stdout, "film.mkv") {
		t.Errorf("torfs status:\n%s", st.Stdout)
	}
	url := "http://" + addr + "/t/" + hash + "/a/film.mkv"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without the token: %s", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Range", "bytes=1000000-")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(filepath.Join(src, "tree", "a", "film.mkv"))
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[1000000:]) {
		t.Fatalf("GET a range with the token: %s, %d bytes, %v", resp.Status, len(body), err)
	}
	fromMount, err := os.ReadFile(filepath.Join(mnt, "a", "film.mkv"))
	if err != nil || !bytes.Equal(fromMount, want) {
		t.Fatalf("reading the mount alongside: %v", err)
	}
}
