package wire

import (
	"bytes"
	"io"
	"testing"
)

// loopReader replays one buffer forever, standing in for a socket.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func BenchmarkReadPiece(b *testing.B) {
	var stream []byte
	for i := range 64 {
		stream = AppendPiece(stream, uint32(i), 0, make([]byte, BlockSize))
	}
	d := NewDecoder(&loopReader{data: stream}, 256<<10)
	var m Message
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(&m); err != nil || m.ID != Piece {
			b.Fatal(err, m.ID)
		}
	}
}

func BenchmarkWritePiece(b *testing.B) {
	block := make([]byte, BlockSize)
	buf := make([]byte, 0, BlockSize+PieceHeaderLen)
	b.SetBytes(BlockSize)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPiece(buf[:0], 1, 0, block)
		io.Discard.Write(buf)
	}
}

func TestReadPieceAllocs(t *testing.T) {
	var stream []byte
	for i := range 8 {
		stream = AppendPiece(stream, uint32(i), 0, bytes.Repeat([]byte{1}, BlockSize))
	}
	d := NewDecoder(&loopReader{data: stream}, 64<<10)
	var m Message
	d.Decode(&m) // warm up the payload buffer
	if n := testing.AllocsPerRun(100, func() { d.Decode(&m) }); n != 0 {
		t.Fatalf("%v allocations per piece message, want 0", n)
	}
}
