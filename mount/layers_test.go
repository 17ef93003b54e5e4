package mount

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/internal/testutil"
	"github.com/torfs/torfs/metainfo"
)

// v2WithoutLayers makes a v2-only torrent of two files, one of three
// pieces, and writes it without its piece layers to a file in dir. It
// returns the complete torrent and that file.
func v2WithoutLayers(t *testing.T, dir string) (*metainfo.MetaInfo, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "v2data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 40000)
	for i := range big {
		big[i] = byte(i * 13)
	}
	os.WriteFile(filepath.Join(data, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(data, "small.txt"), []byte("small"), 0o644)
	full, err := metainfo.Create(context.Background(), data, metainfo.CreateOptions{Version: metainfo.V2, PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.PieceLayers) == 0 {
		t.Fatal("the torrent has no piece layer to leave out")
	}
	bare := *full
	bare.PieceLayers = nil
	b, err := bare.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "v2data.torrent")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return full, path
}

// fakeLayers is a LayerResolver the test drives, as fakeResolver: on an
// answer it fills in the layers of full.
type fakeLayers struct {
	calls   atomic.Int32
	started chan func(fetch.ResolveStatus)
	answers chan error
	full    *metainfo.MetaInfo
}

func newFakeLayers(full *metainfo.MetaInfo) *fakeLayers {
	return &fakeLayers{started: make(chan func(fetch.ResolveStatus), 8), answers: make(chan error, 8), full: full}
}

func (f *fakeLayers) resolve(ctx context.Context, mi *metainfo.MetaInfo, opts fetch.TorrentOptions, progress func(fetch.ResolveStatus)) ([]string, error) {
	f.calls.Add(1)
	progress(fetch.ResolveStatus{Peers: 2, Connected: 1, HashParts: 0, HashPartsTotal: 1})
	f.started <- progress
	select {
	case err := <-f.answers:
		if err != nil {
			return nil, err
		}
		if mi.PieceLayers == nil {
			mi.PieceLayers = map[metainfo.Hash256][]byte{}
		}
		for root, layer := range f.full.PieceLayers {
			mi.PieceLayers[root] = layer
		}
		return []string{"127.0.0.1:9"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeLayers) waitStarted(t *testing.T) func(fetch.ResolveStatus) {
	t.Helper()
	select {
	case p := <-f.started:
		return p
	case <-time.After(20 * time.Second):
		t.Fatal("the layer resolver was not called")
		return nil
	}
}

// TestMountV2WithoutLayersFetchesThemThenShowsTheTree: a v2-only
// .torrent whose piece layers leave a file out mounts at once with the
// placeholder, as a magnet link does, while its peers are asked for the
// hashes; then the tree replaces it, and the next mount uses the saved
// hashes without asking again.
func TestMountV2WithoutLayersFetchesThenShowsTheTree(t *testing.T) {
	full, path := v2WithoutLayers(t, t.TempDir())
	fl := newFakeLayers(full)
	cacheDir := t.TempDir()
	sv := serveConfig(t, Config{CacheDir: cacheDir, LayerResolver: fl.resolve}, path)
	if !sv.mounted.Resolving || len(sv.mounted.Torrents) != 1 || sv.mounted.Torrents[0] != "v2data" {
		t.Errorf("Mounted = %+v, want resolving v2data", sv.mounted)
	}
	progress := fl.waitStarted(t)
	if got := ls(t, sv.mnt); got != fs.ResolvingName {
		t.Fatalf("ls while fetching the hashes = %q", got)
	}
	want := "resolving piece hashes for v2data (" + full.InfoHash.String() + "): 2 peers, 1 connected, piece hashes 0/1 parts, "
	text := readPlaceholder(t, sv.mnt)
	if !strings.HasPrefix(text, want) || !strings.Contains(text, "v2-only") {
		t.Fatalf("placeholder = %q, want it to start with %q and say why", text, want)
	}
	progress(fetch.ResolveStatus{Peers: 2, Connected: 1, HashParts: 1, HashPartsTotal: 1})
	st := statusOf(t, sv.mnt)
	if len(st.Resolving) != 1 || st.Resolving[0].HashParts != 1 || st.Resolving[0].HashPartsTotal != 1 || len(st.Torrents) != 0 {
		t.Errorf("status while fetching the hashes = %+v", st)
	}

	fl.answers <- nil
	testutil.Eventually(t, "the state to become ready", func() bool { return xattr(t, sv.mnt, fs.XattrState) == fs.StateReady })
	if got := ls(t, sv.mnt); got != "big.bin small.txt" {
		t.Fatalf("ls after the hashes arrived = %q", got)
	}
	if fi, err := os.Stat(filepath.Join(sv.mnt, "big.bin")); err != nil || fi.Size() != 40000 {
		t.Fatalf("stat big.bin: %v, %v", fi, err)
	}
	st = statusOf(t, sv.mnt)
	if len(st.Resolving) != 0 || len(st.Torrents) != 1 || st.Torrents[0].Name != "v2data" {
		t.Errorf("status after the hashes arrived = %+v", st)
	}
	saved, err := metainfo.Load(filepath.Join(cacheDir, "torrents", full.InfoHash.String()+".torrent"))
	if err != nil || !saved.HasAllHashesV2() || saved.InfoHashV2 != full.InfoHashV2 {
		t.Fatalf("saved torrent: %v", err)
	}
	if err := sv.stop(t); err != nil {
		t.Fatal(err)
	}

	again := newFakeLayers(full)
	sv2 := serveConfig(t, Config{CacheDir: cacheDir, LayerResolver: again.resolve}, path)
	if sv2.mounted.Resolving {
		t.Error("the second mount asks for the hashes again")
	}
	if got := ls(t, sv2.mnt); got != "big.bin small.txt" {
		t.Fatalf("ls of the second mount = %q", got)
	}
	if n := again.calls.Load(); n != 0 {
		t.Errorf("the layer resolver was called %d times on the second mount", n)
	}
}

// TestDirectoryMountShowsV2WithoutLayers: in a watched directory such a
// .torrent is shown as a directory holding the placeholder, then its
// files.
func TestDirectoryMountShowsV2WithoutLayers(t *testing.T) {
	src := t.TempDir()
	full, _ := v2WithoutLayers(t, src)
	fl := newFakeLayers(full)
	sv := serveConfig(t, Config{CacheDir: t.TempDir(), LayerResolver: fl.resolve}, src)
	fl.waitStarted(t)
	sub := filepath.Join(sv.mnt, "v2data")
	if text := readPlaceholder(t, sub); !strings.HasPrefix(text, "resolving piece hashes for v2data (") {
		t.Errorf("placeholder = %q", text)
	}
	fl.answers <- nil
	testutil.Eventually(t, "the torrent to be shown", func() bool {
		_, err := os.Stat(filepath.Join(sub, "big.bin"))
		return err == nil
	})
	if st := statusOf(t, sv.mnt); len(st.Torrents) != 1 || len(st.Resolving) != 0 {
		t.Errorf("status after the hashes arrived = %+v", st)
	}
}
