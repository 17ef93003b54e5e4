package metainfo

import "sort"

// NumPieces returns the number of pieces.
func (i *Info) NumPieces() int {
	if i.V2 && len(i.Pieces) == 0 && i.PieceLength > 0 {
		return int((i.Length + i.PieceLength - 1) / i.PieceLength)
	}
	return len(i.Pieces) / HashSize
}

// PieceOffset returns where piece p starts in the torrent's byte space.
func (i *Info) PieceOffset(p int) int64 { return int64(p) * i.PieceLength }

// PieceSize returns the size of piece p: PieceLength for all but the last
// piece, which may be shorter.
func (i *Info) PieceSize(p int) int64 {
	off := i.PieceOffset(p)
	if rest := i.Length - off; rest < i.PieceLength {
		return rest
	}
	return i.PieceLength
}

// PieceHash returns the expected SHA-1 of piece p. A v2-only torrent has
// none: see HasV1.
func (i *Info) PieceHash(p int) (h Hash) {
	copy(h[:], i.Pieces[p*HashSize:])
	return h
}

// Span is a contiguous part of one file.
type Span struct {
	File   int   // index into Info.Files
	Offset int64 // offset within that file
	Length int64
}

// Spans returns the file parts covering the torrent byte range
// [off, off+n), in order, skipping zero-length files. Pad files are
// included; callers that store data skip them.
func (i *Info) Spans(off, n int64) []Span {
	var spans []Span
	i.EachSpan(off, n, func(s Span) bool {
		spans = append(spans, s)
		return true
	})
	return spans
}

// EachSpan calls f for each file part covering [off, off+n), in order,
// without allocating, until f returns false.
func (i *Info) EachSpan(off, n int64, f func(Span) bool) {
	if n <= 0 || off < 0 || off >= i.Length {
		return
	}
	end := min(off+n, i.Length)
	// First file whose end is past off.
	k := sort.Search(len(i.Files), func(k int) bool {
		return i.Files[k].Offset+i.Files[k].Length > off
	})
	for ; k < len(i.Files) && off < end; k++ {
		fl := &i.Files[k]
		if fl.Length == 0 {
			continue
		}
		s := Span{File: k, Offset: off - fl.Offset}
		s.Length = min(end, fl.Offset+fl.Length) - off
		if !f(s) {
			return
		}
		off += s.Length
	}
}

// PieceSpans returns the file parts piece p covers.
func (i *Info) PieceSpans(p int) []Span {
	return i.Spans(i.PieceOffset(p), i.PieceSize(p))
}

// PieceRange returns the pieces [first, last] covering the torrent byte
// range [off, off+n). It returns first > last when the range is empty or
// starts outside the torrent.
func (i *Info) PieceRange(off, n int64) (first, last int) {
	if n <= 0 || off < 0 || off >= i.Length {
		return 0, -1
	}
	end := min(off+n, i.Length)
	return int(off / i.PieceLength), int((end - 1) / i.PieceLength)
}

// FilePieces returns the pieces [first, last] covering bytes [off, off+n)
// of file f. It returns first > last when the range is empty.
func (i *Info) FilePieces(f int, off, n int64) (first, last int) {
	fl := &i.Files[f]
	if off < 0 || off >= fl.Length {
		return 0, -1
	}
	n = min(n, fl.Length-off)
	return i.PieceRange(fl.Offset+off, n)
}
