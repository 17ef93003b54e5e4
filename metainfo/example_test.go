package metainfo_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/torfs/torfs/metainfo"
)

func ExampleCreate() {
	tmp, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "greetings")
	os.MkdirAll(filepath.Join(root, "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "sub.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(root, "sub", "x"), []byte("world\n"), 0o644)

	mi, err := metainfo.Create(context.Background(), root, metainfo.CreateOptions{
		PieceLength: 16 << 10,
		Trackers:    [][]string{{"http://tracker.example/announce"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range mi.Info.Files {
		fmt.Println(f.Path, f.Length)
	}
	fmt.Println(mi.Info.NumPieces(), "piece")
	// Output:
	// [sub.txt] 6
	// [sub x] 6
	// 1 piece
}

func ExampleInfo_PieceSpans() {
	mi, err := metainfo.Load("testdata/libtorrent/sample.torrent")
	if err != nil {
		log.Fatal(err)
	}
	info := &mi.Info
	for p := range info.NumPieces() {
		for _, s := range info.PieceSpans(p) {
			f := info.Files[s.File]
			fmt.Printf("piece %d: %v bytes %d-%d (pad %v)\n", p, f.Path, s.Offset, s.Offset+s.Length, f.Pad)
		}
	}
	// Output:
	// piece 0: [text_file2.txt] bytes 0-25 (pad false)
	// piece 0: [.pad 16359] bytes 0-16359 (pad true)
	// piece 1: [text_file.txt] bytes 0-20 (pad false)
}

func ExampleParseMagnet() {
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp&tr=udp%3A%2F%2Ftracker.example%3A6969")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.InfoHash, m.DisplayName, m.Trackers)
	// Output:
	// c0fda1edafdbdbb96443424e0b3899af7159d10e temp [udp://tracker.example:6969]
}
