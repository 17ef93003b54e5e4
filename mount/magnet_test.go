package mount

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/internal/mountinfo"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
	"github.com/zeebo/bencode"
	"golang.org/x/sys/unix"
)

// sampleTorrent is a real .torrent (parsed from bencode, so it has info
// bytes and a true info-hash) of two files nobody seeds.
func sampleTorrent(t *testing.T) *metainfo.MetaInfo {
	t.Helper()
	const pl = 16 << 10
	files := []map[string]any{
		{"length": 40000, "path": []string{"docs", "a.txt"}},
		{"length": 1234, "path": []string{"b.bin"}},
	}
	pieces := make([]byte, 0, 3*20)
	for i := range 3 { // ceil(41234 / 16 KiB)
		h := sha1.Sum([]byte{byte(i)})
		pieces = append(pieces, h[:]...)
	}
	b, err := bencode.EncodeBytes(map[string]any{"info": map[string]any{
		"name": "sample", "piece length": pl, "pieces": string(pieces), "files": files,
	}})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return mi
}

func magnetOf(t *testing.T, mi *metainfo.MetaInfo) string {
	return "magnet:?xt=urn:btih:" + mi.InfoHash.String() + "&dn=sample"
}

// fakeResolver is a Resolver the test drives: each call reports its
// progress, then waits for a result on answers or for ctx.
type fakeResolver struct {
	calls    atomic.Int32
	started  chan func(fetch.ResolveStatus) // one per call: its progress func
	answers  chan error                     // nil: succeed with mi
	mi       *metainfo.MetaInfo
	cancelMu sync.Mutex
	canceled bool // a call ended because its ctx did
}

func newFakeResolver(mi *metainfo.MetaInfo) *fakeResolver {
	return &fakeResolver{started: make(chan func(fetch.ResolveStatus), 8), answers: make(chan error, 8), mi: mi}
}

func (f *fakeResolver) resolve(ctx context.Context, m *metainfo.Magnet, opts fetch.TorrentOptions, progress func(fetch.ResolveStatus)) (*metainfo.MetaInfo, []string, error) {
	f.calls.Add(1)
	if !m.Names(f.mi) {
		return nil, nil, fmt.Errorf("asked for %s", m.InfoHash)
	}
	progress(fetch.ResolveStatus{Peers: 3, Connected: 1, Have: 0, Total: 2})
	f.started <- progress
	select {
	case err := <-f.answers:
		if err != nil {
			return nil, nil, err
		}
		progress(fetch.ResolveStatus{Peers: 3, Connected: 1, Have: 2, Total: 2})
		return f.mi, []string{"127.0.0.1:9"}, nil
	case <-ctx.Done():
		f.cancelMu.Lock()
		f.canceled = true
		f.cancelMu.Unlock()
		return nil, nil, fmt.Errorf("no peer has the metadata: %w", ctx.Err())
	}
}

func (f *fakeResolver) waitStarted(t *testing.T) func(fetch.ResolveStatus) {
	t.Helper()
	select {
	case p := <-f.started:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("the resolver was not called")
		return nil
	}
}

// served is a Serve running in the background for a test.
type served struct {
	mnt     string
	mounted Mounted
	cancel  context.CancelFunc
	done    chan error
}

// serveForTest runs Serve on source with resolver until stop or the end
// of the test, whatever happens.
func serveForTest(t *testing.T, cacheDir, source string, resolver Resolver) *served {
	t.Helper()
	return serveConfig(t, Config{CacheDir: cacheDir, Resolver: resolver}, source)
}

// serveConfig is serveForTest with a whole Config (listening on loopback).
func serveConfig(t *testing.T, cfg Config, source string) *served {
	t.Helper()
	mnt := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	sv := &served{mnt: mnt, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan Mounted, 1)
	cfg.Fetch.ListenAddr = "127.0.0.1:0"
	go func() {
		sv.done <- Serve(ctx, cfg, Target{Source: source, Mountpoint: mnt}, func(m Mounted) { ready <- m }, nil)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sv.done:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return")
		}
		if isMounted(t, mnt) {
			_ = exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
	})
	select {
	case sv.mounted = <-ready:
	case err := <-sv.done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not mounted")
	}
	return sv
}

// stop ends Serve and returns its error.
func (sv *served) stop(t *testing.T) error {
	t.Helper()
	sv.cancel()
	select {
	case err := <-sv.done:
		sv.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its context ended")
		return nil
	}
}

func readPlaceholder(t *testing.T, mnt string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mnt, fs.ResolvingName))
	if err != nil {
		t.Fatalf("reading the placeholder: %v", err)
	}
	return string(b)
}

func xattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 1024)
	n, err := unix.Getxattr(path, name, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return string(buf[:n])
}

func statusOf(t *testing.T, mnt string) Status {
	t.Helper()
	resp, err := http.Get(xattr(t, mnt, fs.XattrStatus))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func ls(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("ls", "-A", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("ls -A %s: %v: %s", dir, err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func TestMagnetMountResolvesThenShowsTheTree(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	cacheDir := t.TempDir()
	sv := serveForTest(t, cacheDir, magnetOf(t, mi), fr.resolve)
	if !sv.mounted.Resolving || len(sv.mounted.Torrents) != 1 || sv.mounted.Torrents[0] != "sample" {
		t.Errorf("Mounted = %+v, want resolving sample", sv.mounted)
	}
	progress := fr.waitStarted(t)

	// The placeholder is all there is, and says what is going on.
	if got := ls(t, sv.mnt); got != fs.ResolvingName {
		t.Fatalf("ls while resolving = %q", got)
	}
	want := "resolving metadata for sample (" + mi.InfoHash.String() + "): 3 peers, 1 connected, 0/2 pieces, "
	if text := readPlaceholder(t, sv.mnt); !strings.HasPrefix(text, want) {
		t.Fatalf("placeholder = %q, want it to start with %q", text, want)
	}
	if got := xattr(t, sv.mnt, fs.XattrState); !strings.HasPrefix(got, want) || strings.Contains(got, "\n") {
		t.Errorf("state xattr = %q", got)
	}
	st := statusOf(t, sv.mnt)
	if len(st.Resolving) != 1 || st.Resolving[0].State != "resolving metadata" || st.Resolving[0].Peers != 3 ||
		st.Resolving[0].InfoHash != mi.InfoHash.String() || len(st.Torrents) != 0 {
		t.Errorf("status while resolving = %+v", st)
	}

	// The content follows the resolver's progress.
	progress(fetch.ResolveStatus{Peers: 5, Connected: 2, Have: 1, Total: 2, LastError: "127.0.0.1:7 has no metadata"})
	text := readPlaceholder(t, sv.mnt)
	if !strings.Contains(text, "5 peers, 2 connected, 1/2 pieces") || !strings.Contains(text, "last error: 127.0.0.1:7 has no metadata") {
		t.Errorf("placeholder after progress = %q", text)
	}

	// Metadata arrives: the tree replaces the placeholder, no remount.
	open, err := os.Open(filepath.Join(sv.mnt, fs.ResolvingName))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close() // if the test fails before it is closed below
	fr.answers <- nil
	testutil.Eventually(t, "the state to become ready", func() bool { return xattr(t, sv.mnt, fs.XattrState) == fs.StateReady })
	if got := ls(t, sv.mnt); got != "b.bin docs" {
		t.Fatalf("ls after resolving = %q, want \"b.bin docs\"", got)
	}
	if fi, err := os.Stat(filepath.Join(sv.mnt, "docs", "a.txt")); err != nil || fi.Size() != 40000 {
		t.Fatalf("stat docs/a.txt: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(sv.mnt, fs.ResolvingName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("placeholder after resolving: %v", err)
	}
	// A placeholder still open says what happened.
	buf := make([]byte, 4096)
	if n, _ := open.ReadAt(buf, 0); !strings.HasPrefix(string(buf[:n]), "metadata for sample ("+mi.InfoHash.String()+") resolved after ") {
		t.Errorf("the open placeholder after resolving = %q", buf[:n])
	}
	open.Close() // an open file holds the unmount back
	st = statusOf(t, sv.mnt)
	if len(st.Resolving) != 0 || len(st.Torrents) != 1 || st.Torrents[0].Name != "sample" || len(st.Torrents[0].Files) != 2 {
		t.Errorf("status after resolving = %+v", st)
	}

	// Saved for the next mount, outside the torrent's cache directory.
	saved, err := metainfo.Load(filepath.Join(cacheDir, "torrents", mi.InfoHash.String()+".torrent"))
	if err != nil || saved.InfoHash != mi.InfoHash {
		t.Fatalf("saved torrent: %v", err)
	}
	if err := sv.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "torrents", mi.InfoHash.String()+".torrent")); err != nil {
		t.Errorf("saved torrent after unmount without keep: %v", err)
	}

	// The next mount uses it: no resolving, the tree at once.
	again := newFakeResolver(mi)
	sv2 := serveForTest(t, cacheDir, magnetOf(t, mi), again.resolve)
	if sv2.mounted.Resolving {
		t.Error("the second mount resolves again")
	}
	if got := ls(t, sv2.mnt); got != "b.bin docs" {
		t.Fatalf("ls of the second mount = %q", got)
	}
	if n := again.calls.Load(); n != 0 {
		t.Errorf("the resolver was called %d times on the second mount", n)
	}
}

func TestMagnetUnmountWhileResolving(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	sv := serveForTest(t, t.TempDir(), magnetOf(t, mi), fr.resolve)
	fr.waitStarted(t)
	readPlaceholder(t, sv.mnt)
	if err := sv.stop(t); err != nil {
		t.Fatalf("Serve after unmounting while resolving: %v", err)
	}
	fr.cancelMu.Lock()
	canceled := fr.canceled
	fr.cancelMu.Unlock()
	if !canceled {
		t.Error("the resolver's context was not cancelled by the unmount")
	}
	if isMounted(t, sv.mnt) {
		t.Errorf("%s is still mounted", sv.mnt)
	}
}

func TestResolveRetriesAndSaysWhyItStopped(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	s, err := New(Config{Fetch: fetch.Config{ListenAddr: "127.0.0.1:0"}, CacheDir: t.TempDir(), Resolver: fr.resolve})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	s.retryDelay = time.Millisecond
	m, err := metainfo.ParseMagnet(magnetOf(t, mi))
	if err != nil {
		t.Fatal(err)
	}
	r := newResolution("sample", m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() {
		_, _, err := s.resolve(ctx, r)
		result <- err
	}()
	fr.waitStarted(t)
	fr.answers <- errors.New("the metadata is larger than 16 MiB")
	fr.waitStarted(t) // tried again
	if text := r.describe(); !strings.Contains(text, "last error: the metadata is larger than 16 MiB") {
		t.Errorf("placeholder after a failed attempt = %q", text)
	}
	cancel()
	select {
	case err := <-result:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("resolve after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("resolve did not return after cancel")
	}
	text := r.describe()
	if !strings.HasPrefix(text, "resolving metadata for sample ("+mi.InfoHash.String()+") stopped after") ||
		!strings.Contains(text, "context canceled") {
		t.Errorf("placeholder after cancel = %q", text)
	}
	if rs := r.status(); rs.State != "failed" {
		t.Errorf("state after cancel = %q", rs.State)
	}
}

// isMounted reads /proc/self/mountinfo, which never blocks on a hung
// FUSE server.
func isMounted(t *testing.T, dir string) bool {
	ms, err := mountinfo.Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Mountpoint == dir {
			return true
		}
	}
	return false
}

func TestMagnetExtrasAddOnlyWhatTheTorrentLacks(t *testing.T) {
	mi := sampleTorrent(t)
	mi.AnnounceList = [][]string{{"http://t1/announce"}, {"http://t2/announce"}}
	mi.URLList = []string{"http://w1/"}
	m := &metainfo.Magnet{InfoHash: mi.InfoHash,
		Trackers: []string{"http://t2/announce", "http://t3/announce"},
		WebSeeds: []string{"http://w1/", "http://w2/"},
		Peers:    []string{"127.0.0.1:1"}}
	got := magnetExtras(mi, m, []string{"127.0.0.1:1", "127.0.0.1:2"})
	want := fetch.TorrentOptions{Trackers: [][]string{{"http://t3/announce"}}, WebSeeds: []string{"http://w2/"},
		Peers: []string{"127.0.0.1:1", "127.0.0.1:2"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("magnetExtras = %+v, want %+v", got, want)
	}
}

func TestFormatElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 12*time.Second + 900*time.Millisecond: "12 s", 3*time.Minute + 4*time.Second: "3 min 4 s",
		2*time.Hour + 5*time.Minute + 59*time.Second: "2 h 5 min",
	} {
		if got := formatElapsed(d); got != want {
			t.Errorf("formatElapsed(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMagnetResolveTimeoutLeavesThePlaceholderSayingWhy(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	sv := serveConfig(t, Config{CacheDir: t.TempDir(), Resolver: fr.resolve, ResolveTimeout: 100 * time.Millisecond}, magnetOf(t, mi))
	mnt := sv.mnt
	fr.waitStarted(t)
	var state string
	testutil.Eventually(t, "the state to say it stopped", func() bool {
		state = xattr(t, mnt, fs.XattrState)
		return strings.Contains(state, "stopped after")
	})
	text := readPlaceholder(t, mnt)
	if !strings.Contains(text, "gave up after 100ms (the resolve timeout): no peer has the metadata: context deadline exceeded") ||
		!strings.Contains(text, "mount again to retry") {
		t.Errorf("placeholder after the timeout = %q", text)
	}
	if st := statusOf(t, mnt); len(st.Resolving) != 1 || st.Resolving[0].State != "failed" {
		t.Errorf("status after the timeout = %+v", st)
	}
	if n := fr.calls.Load(); n != 1 {
		t.Errorf("resolver called %d times, want 1", n)
	}
}

func TestDirectoryMountShowsMagnetFiles(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	src := t.TempDir()
	magnetFile := filepath.Join(src, "music.magnet")
	if err := os.WriteFile(magnetFile, []byte(magnetOf(t, mi)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := t.TempDir()
	sv := serveForTest(t, cacheDir, src, fr.resolve)
	sub := filepath.Join(sv.mnt, "music")
	fr.waitStarted(t)
	if got := ls(t, sv.mnt); got != "music" {
		t.Fatalf("ls of the mount = %q", got)
	}
	if text := readPlaceholder(t, sub); !strings.HasPrefix(text, "resolving metadata for music ("+mi.InfoHash.String()+"): 3 peers") {
		t.Errorf("placeholder = %q", text)
	}
	if st := statusOf(t, sv.mnt); len(st.Resolving) != 1 || st.Resolving[0].Name != "music" {
		t.Errorf("status while resolving = %+v", st)
	}

	// Removing the file while resolving stops the resolution.
	if err := os.Remove(magnetFile); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the directory to go", func() bool {
		_, err := os.Stat(sub)
		return errors.Is(err, os.ErrNotExist)
	})
	fr.cancelMu.Lock()
	canceled := fr.canceled
	fr.cancelMu.Unlock()
	if !canceled {
		t.Error("removing the magnet file did not cancel its resolution")
	}
	if st := statusOf(t, sv.mnt); len(st.Resolving) != 0 {
		t.Errorf("status after removing = %+v", st)
	}

	// Back again, and resolved this time.
	if err := os.WriteFile(magnetFile, []byte(magnetOf(t, mi)), 0o644); err != nil {
		t.Fatal(err)
	}
	fr.waitStarted(t)
	fr.answers <- nil
	testutil.Eventually(t, "the torrent to be shown", func() bool {
		_, err := os.Stat(filepath.Join(sub, "docs", "a.txt"))
		return err == nil
	})
	if got := ls(t, sub); got != "b.bin docs" {
		t.Errorf("ls of the resolved directory = %q", got)
	}
	if st := statusOf(t, sv.mnt); len(st.Torrents) != 1 || st.Torrents[0].Name != "music" || len(st.Resolving) != 0 {
		t.Errorf("status after resolving = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(cacheDir, "torrents", mi.InfoHash.String()+".torrent")); err != nil {
		t.Errorf("saved torrent: %v", err)
	}
}

// TestDirectoryMountShowsADuplicateMagnetOnce: the same magnet link
// dropped twice into a watched directory is shown and resolved once; the
// copy is skipped, not resolved forever.
func TestDirectoryMountShowsADuplicateMagnetOnce(t *testing.T) {
	mi := sampleTorrent(t)
	fr := newFakeResolver(mi)
	src := t.TempDir()
	for _, name := range []string{"a.magnet", "b.magnet"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(magnetOf(t, mi)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sv := serveForTest(t, t.TempDir(), src, fr.resolve)
	fr.waitStarted(t)
	if got := ls(t, sv.mnt); got != "a" {
		t.Fatalf("ls of the mount = %q, want only a", got)
	}
	if st := statusOf(t, sv.mnt); len(st.Resolving) != 1 {
		t.Errorf("resolving %+v, want one", st.Resolving)
	}
	fr.answers <- nil
	testutil.Eventually(t, "the torrent to be shown", func() bool {
		_, err := os.Stat(filepath.Join(sv.mnt, "a", "docs", "a.txt"))
		return err == nil
	})
	if st := statusOf(t, sv.mnt); len(st.Torrents) != 1 || len(st.Resolving) != 0 {
		t.Errorf("status after resolving = %+v, want one torrent and nothing resolving", st)
	}
	if got := ls(t, sv.mnt); got != "a" {
		t.Errorf("ls of the mount after resolving = %q, want only a", got)
	}
}

// TestDirectoryMountHybridMagnetAndTorrentOnce: a magnet link with only
// the v2 info-hash (urn:btmh) of a hybrid torrent and that torrent's
// .torrent file, in a watched directory, are one torrent, shown once
// whichever comes first.
func TestDirectoryMountHybridMagnetAndTorrentOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), bytes.Repeat([]byte("hybrid"), 9000), 0o644); err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Create(t.Context(), filepath.Join(dir, "f"), metainfo.CreateOptions{PieceLength: 16 << 10, Version: metainfo.Hybrid})
	if err != nil {
		t.Fatal(err)
	}
	torrent, err := mi.Encode()
	if err != nil {
		t.Fatal(err)
	}
	btmh := (&metainfo.Magnet{InfoHash: mi.InfoHashV2.Truncated(), InfoHashV2: mi.InfoHashV2}).String()
	if m, err := metainfo.ParseMagnet(btmh); err != nil || m.HasV1() || !m.Names(mi) {
		t.Fatalf("%s is not a btmh-only link of the torrent (%v)", btmh, err)
	}
	for _, c := range []struct {
		name          string
		first, second string // file names: scanned in this order
	}{
		{"torrent first", "a.torrent", "b.magnet"},
		{"magnet first", "a.magnet", "b.torrent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			for _, f := range []string{c.first, c.second} {
				b := torrent
				if filepath.Ext(f) == ".magnet" {
					b = []byte(btmh + "\n")
				}
				if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fr := newFakeResolver(mi)
			sv := serveForTest(t, t.TempDir(), src, fr.resolve)
			if filepath.Ext(c.first) == ".magnet" {
				fr.waitStarted(t)
				fr.answers <- nil
			}
			testutil.Eventually(t, "the torrent to be shown", func() bool {
				_, err := os.Stat(filepath.Join(sv.mnt, "a", "f"))
				return err == nil
			})
			if got := ls(t, sv.mnt); got != "a" {
				t.Errorf("ls of the mount = %q, want only a", got)
			}
			if st := statusOf(t, sv.mnt); len(st.Torrents) != 1 || len(st.Resolving) != 0 {
				t.Errorf("status = %+v, want one torrent and nothing resolving", st)
			}
		})
	}
}
