package fetch

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/torfs/torfs/metainfo"
)

// TestV2OnlyRefused: the engine cannot ask peers for BEP 52 hashes, so a
// v2-only torrent whose piece layers leave a file out, or a magnet link
// with only a v2 info-hash, is refused at once with metainfo.ErrV2Only,
// before any storage or network is touched.
func TestV2OnlyRefused(t *testing.T) {
	full, err := metainfo.Load(filepath.Join("..", "metainfo", "testdata", "libtorrent", "v2_only.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSupported(full); err != nil {
		t.Errorf("a v2-only torrent with all its piece layers: %v", err)
	}
	mi, err := metainfo.Load(filepath.Join("..", "metainfo", "testdata", "libtorrent", "v2_incomplete_piece_layer.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, Config{})
	if _, err := c.AddTorrent(context.Background(), mi, nil, TorrentOptions{}); !errors.Is(err, metainfo.ErrV2Only) {
		t.Errorf("AddTorrent of a v2-only torrent: %v", err)
	}
	m := mi.Magnet()
	if _, _, err := c.Resolve(context.Background(), m, TorrentOptions{}, nil); !errors.Is(err, metainfo.ErrV2Only) {
		t.Errorf("Resolve of a v2-only magnet link: %v", err)
	}
}
