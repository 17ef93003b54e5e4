package cache

import (
	"sync"
)

// writeBehind is how many bytes of small contiguous writes of a piece
// WriteBlock gathers in memory before writing them with one pwrite: on
// ext4 a 16 KiB pwrite costs the kernel about 1.6 times as much per byte
// as a 256 KiB one, and beyond 256 KiB nothing more is gained.
const writeBehind = 256 << 10

// maxWriteBehind bounds the write-behind buffers held at once, by all the
// pieces being written (16 MiB); beyond that, small writes go straight to
// disk.
const maxWriteBehind = 64

// partial is the write-behind state of a piece being written: a run of
// small contiguous blocks gathered in memory, written out when the run
// breaks or fills the buffer, and at the latest by Verify, on the hashing
// goroutine rather than the writer's. Nothing reads a piece's bytes from
// disk before Verify, and every write of the piece happens under mu after
// the gathered run is written out unless it extends the run, so the disk
// receives the piece's writes in the order they were made.
//
// Hashing as blocks are written (a running SHA-1 per piece) was tried and
// measured: it spares Verify its read-back, but puts SHA-1 on the
// connection's receive loop, which is torfs get's critical path; with one
// libtorrent seeder on loopback, get fell from about 750 to 430-650 MB/s.
type partial struct {
	mu sync.Mutex
	// wb, when not nil, holds the piece's bytes [wbOff, wbOff+len(*wb)),
	// newer than what is on disk there.
	wb    *[]byte
	wbOff int64
}

func (c *Cache) getPartial() *partial {
	if pt, ok := c.partials.Get().(*partial); ok {
		return pt
	}
	return &partial{}
}

func (c *Cache) putPartial(pt *partial) {
	if pt.wb != nil {
		*pt.wb = (*pt.wb)[:0]
		c.writeBufs.Put(pt.wb)
		c.writeBufsHeld.Add(-1)
		pt.wb = nil
	}
	c.partials.Put(pt)
}

// writePartial writes data at offset off of piece p, gathering it with
// the run before when it is small and continues that run. Called with
// pt.mu held.
func (c *Cache) writePartial(p int, pt *partial, off int64, data []byte) error {
	small := len(data) <= writeBehind/4 && int64(len(data)) < c.info.PieceSize(p)
	if pt.wb != nil && len(*pt.wb) > 0 {
		b := *pt.wb
		if !small || off != pt.wbOff+int64(len(b)) || len(b)+len(data) > cap(b) {
			// The run breaks: it goes to disk before this write, which
			// may overlap it.
			if err := c.flush(p, pt); err != nil {
				return err
			}
		}
	}
	if small && pt.wb == nil {
		pt.wb = c.getWriteBuf()
	}
	if !small || pt.wb == nil {
		return c.writeAt(data, c.info.PieceOffset(p)+off)
	}
	b := *pt.wb
	if len(b) == 0 {
		pt.wbOff = off
	}
	b = append(b, data...)
	*pt.wb = b
	if len(b) == cap(b) {
		return c.flush(p, pt)
	}
	return nil
}

// flush writes out the write-behind buffer of piece p. Called with pt.mu
// held, or by the owner of pt.
func (c *Cache) flush(p int, pt *partial) error {
	if pt.wb == nil || len(*pt.wb) == 0 {
		return nil
	}
	b := *pt.wb
	*pt.wb = b[:0]
	return c.writeAt(b, c.info.PieceOffset(p)+pt.wbOff)
}

func (c *Cache) getWriteBuf() *[]byte {
	if c.writeBufsHeld.Add(1) > maxWriteBehind {
		c.writeBufsHeld.Add(-1)
		return nil
	}
	if b, ok := c.writeBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, writeBehind)
	return &b
}
