package metainfo

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "libtorrent", "*.torrent"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("d4:infod6:lengthi1e4:name1:a12:piece lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Add([]byte("d4:info2147483647:"))
	f.Add([]byte("d2000010000:"))
	f.Add([]byte("de"))
	for _, s := range hostileTorrents(300) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		allocbound.Check(t, torrentLimit, "parsing a .torrent", data, func() { Parse(data) })
		mi, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkSafe(t, mi)
		// A v2 torrent's piece count comes from its file lengths, not
		// from bytes present: look at the first pieces only.
		for p := range min(mi.Info.NumPieces(), 1<<16) {
			mi.Info.PieceSpans(p)
		}
		out, err := mi.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed torrent: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parsing the encoded torrent: %v", err)
		}
		if again.InfoHash != mi.InfoHash {
			t.Fatalf("info-hash changed by Encode: %s -> %s", mi.InfoHash, again.InfoHash)
		}
	})
}

func FuzzParseMagnet(f *testing.F) {
	f.Add("magnet:?xt=urn:btih:" + hexHash + "&dn=a+b&tr=http://t/a&x.pe=127.0.0.1:1&ws=http://w/")
	f.Add("magnet:?xt=urn:btih:yd62d3np3pn3szcdijhawoezv5yvtuio")
	f.Add("magnet:?xt=urn:btmh:1220abcd")
	f.Add("magnet:?xt=%zz&tr=")
	f.Add("http://example.com/")
	for _, s := range hostileMagnets(300) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		allocbound.Check(t, magnetLimit, "parsing a magnet link", uri, func() { ParseMagnet(uri) })
		m, err := ParseMagnet(uri)
		if err != nil {
			return
		}
		again, err := ParseMagnet(m.String())
		if err != nil {
			t.Fatalf("String() of a parsed magnet does not parse: %q: %v", m.String(), err)
		}
		if again.InfoHash != m.InfoHash || again.DisplayName != m.DisplayName || len(again.Trackers) != len(m.Trackers) {
			t.Fatalf("round trip changed the magnet: %+v -> %+v", m, again)
		}
	})
}

// FuzzParseV2 runs Parse over BitTorrent v2 and hybrid torrents: the
// corpus's and small ones built here, so that mutations land in the file
// tree and the piece layers. What parses must have consistent v2 hashes:
// each piece layer hashes to its file's root, and writing the torrent
// out keeps both info-hashes and every layer.
func FuzzParseV2(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "libtorrent", "v2*.torrent"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	h := NewFileHasher(BlockSize)
	h.Write(make([]byte, 40000))
	root, layer, _ := h.Sum()
	leaf := "d0:d6:lengthi40000e11:pieces root32:" + string(root[:]) + "ee"
	info := "d9:file treed1:a" + leaf + "1:dd1:b" + leaf + "ee12:meta versioni2e4:name1:n12:piece lengthi16384ee"
	f.Add([]byte("d4:info" + info + "12:piece layersd32:" + string(root[:]) + str(string(layer)) + "ee"))
	f.Add([]byte("d4:info" + info + "e"))
	for _, s := range hostileTorrents(300)[:3] {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		allocbound.Check(t, torrentLimit, "parsing a .torrent", data, func() { Parse(data) })
		mi, err := Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkSafe(t, mi)
		if !mi.HasV2() {
			return
		}
		if mi.InfoHashV2 != sha256.Sum256(mi.InfoBytes) {
			t.Fatal("InfoHashV2 is not the SHA-256 of the info bytes")
		}
		for root, layer := range mi.PieceLayers {
			if got, err := PieceLayerRoot(layer, mi.Info.PieceLength); err != nil || got != root {
				t.Fatalf("layer of %s hashes to %s, %v", root, got, err)
			}
		}
		for _, fl := range mi.Info.Files {
			if !fl.Pad && fl.Length > 0 && fl.Symlink == nil && fl.Offset%mi.Info.PieceLength != 0 {
				t.Fatalf("file %q at %d is not piece-aligned", fl.Path, fl.Offset)
			}
		}
		out, err := mi.Encode()
		if err != nil {
			t.Fatalf("Encode of a parsed torrent: %v", err)
		}
		again, err := Parse(out)
		if err != nil || again.InfoHash != mi.InfoHash || again.InfoHashV2 != mi.InfoHashV2 || len(again.PieceLayers) != len(mi.PieceLayers) {
			t.Fatalf("re-parsing the encoded torrent: %v", err)
		}
	})
}
