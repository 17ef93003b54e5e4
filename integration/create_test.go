package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/torfs/torfs/integration/harness"
	"github.com/torfs/torfs/metainfo"
)

// TestCreateMatchesMktorrent creates torrents of the same data with
// `torfs create` and mktorrent, at three piece lengths, for a directory
// and a single file, and requires identical info dictionaries (so equal
// info-hashes): same file order, same keys, same piece hashes.
func TestCreateMatchesMktorrent(t *testing.T) {
	t.Parallel()
	harness.Require(t, "mktorrent")
	bin := harness.BuildTorfs(t)
	work := t.TempDir()

	// The tree has what makes orderings and walks differ: nested
	// directories, hidden files, zero-length files, upper case before
	// lower case, non-ASCII names, and "sub.txt" that must precede "sub/x"
	// because '.' < '/' in byte order although a per-directory walk would
	// put the directory "sub" first.
	dir := filepath.Join(work, "tree")
	harness.RandomTree(t, dir, []harness.FileSpec{
		{Path: "sub.txt", Size: 70001},
		{Path: "sub/x", Size: 300_000},
		{Path: "sub/.hidden", Size: 12345},
		{Path: ".dotfile", Size: 99},
		{Path: "empty", Size: 0},
		{Path: "a/b/c/deep.bin", Size: 600_017},
		{Path: "a/b/zero", Size: 0},
		{Path: "Zeta", Size: 65536},
		{Path: "été/ß.txt", Size: 4097},
		{Path: "sub-dash", Size: 1},
	}, 7)
	single := filepath.Join(work, "single.bin")
	harness.RandomFile(t, single, 1_300_001, 8)

	for _, src := range []string{dir, single} {
		for _, log2 := range []int{15, 16, 18} {
			for _, private := range []bool{false, true} {
				name := fmt.Sprintf("%s-l%d-private=%v", filepath.Base(src), log2, private)
				t.Run(name, func(t *testing.T) {
					mk := filepath.Join(work, name+".mktorrent.torrent")
					tf := filepath.Join(work, name+".torfs.torrent")
					mkArgs := []string{"-a", "http://127.0.0.1:1/announce", "-l", fmt.Sprint(log2), "-t", "2", "-o", mk}
					tfArgs := []string{"create", "-a", "http://127.0.0.1:1/announce", "-l", fmt.Sprint(1 << log2), "-o", tf}
					if private {
						mkArgs = append(mkArgs, "-p")
						tfArgs = append(tfArgs, "--private")
					}
					runMktorrent(t, append(mkArgs, src)...)
					harness.RunTorfs(t, bin, append(tfArgs, src)...)

					want, err := metainfo.Load(mk)
					if err != nil {
						t.Fatalf("parse mktorrent's torrent: %v", err)
					}
					got, err := metainfo.Load(tf)
					if err != nil {
						t.Fatalf("parse torfs's torrent: %v", err)
					}
					if got.InfoHash != want.InfoHash {
						t.Errorf("info-hash: torfs %s, mktorrent %s", got.InfoHash, want.InfoHash)
					}
					if !bytes.Equal(got.InfoBytes, want.InfoBytes) {
						t.Errorf("info dictionaries differ:\ntorfs     %.300q\nmktorrent %.300q", got.InfoBytes, want.InfoBytes)
					}
					if got.Info.PieceLength != 1<<log2 || got.Info.Private != private {
						t.Errorf("piece length %d private %v", got.Info.PieceLength, got.Info.Private)
					}

					// torfs info reads mktorrent's file the same way.
					r := harness.RunTorfs(t, bin, "info", "--json", mk)
					var js struct {
						InfoHash string `json:"info_hash"`
						Length   int64
					}
					if err := json.Unmarshal([]byte(r.Stdout), &js); err != nil {
						t.Fatalf("torfs info --json: %v\n%s", err, r.Stdout)
					}
					if js.InfoHash != want.InfoHash.String() || js.Length != want.Info.Length {
						t.Errorf("torfs info on mktorrent's torrent: %+v, want %s", js, want.InfoHash)
					}
				})
			}
		}
	}
}

func runMktorrent(t *testing.T, args ...string) {
	t.Helper()
	ctx := harness.Context(t, time.Minute)
	out, err := exec.CommandContext(ctx, "mktorrent", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mktorrent %q: %v\n%s", args, err, out)
	}
}
