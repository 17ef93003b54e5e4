package fetch

import (
	"net"
	"testing"
	"time"

	"github.com/torfs/torfs/wire"
)

// BenchmarkUpload is the seeding side's cost per 16 KiB block: a raw
// peer on loopback TCP keeps uploadDepth requests outstanding across a
// 64 MiB torrent in memory and reads the blocks. ns/op and allocs/op are
// per block, both ends counted (the raw peer only decodes into its
// buffer).
func BenchmarkUpload(b *testing.B) {
	const uploadDepth = 500
	mi, data := testTorrent(b, 64<<20, 256<<10)
	c, err := NewClient(Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddTorrent(b.Context(), mi, newMemStorage(&mi.Info, data), TorrentOptions{}); err != nil {
		b.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", c.Addr().String(), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	h := wire.Handshake{InfoHash: mi.InfoHash}
	h.Reserved.SetFast(true)
	if err := wire.WriteHandshake(conn, h); err != nil {
		b.Fatal(err)
	}
	if _, err := wire.ReadHandshake(conn); err != nil {
		b.Fatal(err)
	}
	dec := wire.NewDecoder(conn, 256<<10)
	if _, err := conn.Write(wire.AppendSimple(nil, wire.Interested)); err != nil {
		b.Fatal(err)
	}
	var m wire.Message
	for m.ID != wire.Unchoke {
		if err := dec.Decode(&m); err != nil {
			b.Fatalf("waiting to be unchoked: %v", err)
		}
	}

	blocksPerPiece := int(mi.Info.PieceLength / wire.BlockSize)
	blocks := len(data) / wire.BlockSize
	// credit: the sender may have this many more requests outstanding.
	credit := make(chan int, uploadDepth)
	sendErr := make(chan error, 1)
	go func() {
		var out []byte
		sent := 0
		for sent < b.N {
			n := <-credit
			out = out[:0]
			for range n {
				i := sent % blocks
				out = wire.AppendRequest(out, wire.Request, uint32(i/blocksPerPiece), uint32(i%blocksPerPiece*wire.BlockSize), wire.BlockSize)
				sent++
			}
			if _, err := conn.Write(out); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()

	b.SetBytes(wire.BlockSize)
	b.ReportAllocs()
	b.ResetTimer()
	credit <- min(uploadDepth, b.N)
	owed := b.N - min(uploadDepth, b.N)
	freed := 0
	for got := 0; got < b.N; {
		if err := dec.Decode(&m); err != nil {
			b.Fatalf("after %d of %d blocks: %v", got, b.N, err)
		}
		if m.ID != wire.Piece {
			continue
		}
		if len(m.Block) != wire.BlockSize {
			b.Fatalf("block of %d bytes", len(m.Block))
		}
		got++
		// Grant credit in steps, as a client refilling its pipeline does.
		if freed++; freed >= 32 && owed > 0 {
			n := min(freed, owed)
			credit <- n
			owed -= n
			freed = 0
		}
	}
	b.StopTimer()
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
}
