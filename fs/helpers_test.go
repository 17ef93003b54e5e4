package fs

import (
	"context"
	"testing"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// mountForTest mounts root on a fresh directory and unmounts it when the
// test ends, whatever happened.
func mountForTest(t testing.TB, root fusefs.InodeEmbedder) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := Mount(dir, root, MountOptions{})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Unmount(ctx); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return srv, dir
}

// multiFileTorrent is a small multi-file torrent with every kind of entry:
// nested directories, a pad file, an executable, an empty file and a
// symlink. Its pieces are 16 KiB, so files straddle pieces.
func multiFileTorrent(t testing.TB) *fakeTorrent {
	return newFakeTorrent(t, "sample", true, 16<<10,
		fakeFile{path: []string{"readme.txt"}, length: 1000},
		fakeFile{path: []string{".pad", "15384"}, length: 15384, pad: true},
		fakeFile{path: []string{"video", "film.mkv"}, length: 300_000},
		fakeFile{path: []string{"video", "extras", "run.sh"}, length: 5000, exec: true},
		fakeFile{path: []string{"empty"}, length: 0},
		fakeFile{path: []string{"video", "latest"}, symlink: []string{"video", "film.mkv"}},
		fakeFile{path: []string{"tail.bin"}, length: 70_001},
	)
}

// waitBlocked waits until a read of ft blocks on a missing piece.
func waitBlocked(t testing.TB, ft *fakeTorrent) {
	t.Helper()
	select {
	case <-ft.blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("no read reached the torrent")
	}
}
