package main

import (
	"testing"

	"github.com/torfs/torfs/metainfo"
)

func TestSelectionPieces(t *testing.T) {
	// Four files over 10-byte pieces: a [0,25) b [25,30) c/d [30,55) e [55,60).
	info := &metainfo.Info{Name: "root", MultiFile: true, PieceLength: 10, Length: 60, Pieces: make([]byte, 6*metainfo.HashSize)}
	for _, f := range []struct {
		path      []string
		off, size int64
	}{{[]string{"a.mkv"}, 0, 25}, {[]string{"b.nfo"}, 25, 5}, {[]string{"c", "d.mkv"}, 30, 25}, {[]string{"e.srt"}, 55, 5}} {
		info.Files = append(info.Files, metainfo.File{Path: f.path, Offset: f.off, Length: f.size})
	}
	for _, c := range []struct {
		only, exclude []string
		files         int
		pieces        string // wanted, one digit per piece
	}{
		{only: []string{"*.mkv"}, files: 2, pieces: "111111"},
		{only: []string{"c/*"}, files: 1, pieces: "000111"},
		{only: []string{"d.mkv"}, files: 1, pieces: "000111"}, // a base name
		{only: []string{"*"}, exclude: []string{"*.mkv"}, files: 2, pieces: "001001"},
		{exclude: []string{"c/d.mkv", "a.*"}, files: 2, pieces: "001001"},
		{only: []string{"b.nfo"}, files: 1, pieces: "001000"},
	} {
		s := selection{only: c.only, exclude: c.exclude}
		wanted, files, err := s.pieces(info)
		if err != nil {
			t.Errorf("%+v: %v", c, err)
			continue
		}
		got := ""
		for _, w := range wanted {
			if w {
				got += "1"
			} else {
				got += "0"
			}
		}
		if got != c.pieces || len(files) != c.files {
			t.Errorf("--only %q --exclude %q: pieces %s, %d files; want %s, %d", c.only, c.exclude, got, len(files), c.pieces, c.files)
		}
	}
	if _, _, err := (&selection{only: []string{"*.iso"}}).pieces(info); err == nil {
		t.Error("a selection of no file is accepted")
	}
	if err := (&selection{only: []string{"[a-"}}).check(); err == nil {
		t.Error("a malformed pattern is accepted")
	}
}
