package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
)

// FileReader is one stream over one file of a torrent with the standard
// interfaces: io.ReadSeeker (what http.ServeContent takes), io.ReaderAt
// and io.Closer, at the file's offsets. It wraps a Reader of the file,
// so its readahead stops at the file's end.
//
// Every read ends when the context given to OpenFile does (an HTTP
// request's), and that context ending, or Close, withdraws the stream's
// demands at once, also while a read is blocked: a client that goes
// away mid-range stops costing pieces there and then.
//
// Read and Seek share a position and are not safe for concurrent use;
// ReadAt and ReadAtContext are.
type FileReader struct {
	r      *Reader
	off    int64 // the file's start in the torrent's byte space
	size   int64
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	pos    int64  // Read's position
	buf    []byte // bytes at bufOff, read ahead of small Reads
	bufOff int64
}

// fileReadChunk is what a small Read asks the engine for, within one
// piece: small reads (io.Copy's 32 KiB) would each take the torrent's
// lock and move its demands; FUSE reads come in this size too.
const fileReadChunk = 128 << 10

var (
	_ io.ReadSeekCloser = (*FileReader)(nil)
	_ io.ReaderAt       = (*FileReader)(nil)
)

// OpenFile returns a FileReader of the file at torrent bytes [off,
// off+n) (a metainfo.File's Offset and Length), whose reads end with ctx.
// Close it, or end ctx, to withdraw its demands.
func (t *Torrent) OpenFile(ctx context.Context, off, n int64, opts ReaderOptions) *FileReader {
	ctx, cancel := context.WithCancel(ctx)
	f := &FileReader{r: t.NewFileReader(off, n, opts), off: off, size: n, ctx: ctx, cancel: cancel}
	context.AfterFunc(ctx, func() { _ = f.r.Close() })
	return f
}

// Size is the file's length.
func (f *FileReader) Size() int64 { return f.size }

// Close withdraws the stream's demands and ends the reads in flight,
// which fail with an error wrapping ErrClosed.
func (f *FileReader) Close() error {
	f.closed.Store(true)
	f.cancel()
	return f.r.Close()
}

// Read reads from the current position, waiting for the pieces under it.
func (f *FileReader) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= f.bufOff && f.pos < f.bufOff+int64(len(f.buf)) {
		n := copy(p, f.buf[f.pos-f.bufOff:])
		f.pos += int64(n)
		return n, nil
	}
	// Never past the piece under pos: a caller that reads a short
	// range (http.ServeContent copies 32 KiB at a time) would otherwise
	// wait for the next piece too.
	pl := f.r.t.info.PieceLength
	pieceEnd := ((f.off+f.pos)/pl+1)*pl - f.off
	want := min(int64(fileReadChunk), f.size-f.pos, pieceEnd-f.pos)
	if int64(len(p)) >= want {
		n, err := f.ReadAt(p[:min(int64(len(p)), f.size-f.pos)], f.pos)
		f.pos += int64(n)
		if errors.Is(err, io.EOF) && n > 0 {
			err = nil
		}
		return n, err
	}
	if f.buf == nil {
		f.buf = make([]byte, fileReadChunk)
	}
	f.buf = f.buf[:want]
	n, err := f.ReadAt(f.buf, f.pos)
	f.buf, f.bufOff = f.buf[:n], f.pos
	if n < int(want) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		f.buf = f.buf[:0]
		return 0, err
	}
	return f.Read(p)
}

// Seek sets the position of the next Read (io.Seeker).
func (f *FileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek to a negative offset %d", offset)
	}
	f.pos = offset
	return offset, nil
}

// ReadAt reads len(b) bytes at the file's offset off (io.ReaderAt),
// waiting for the pieces under them for as long as OpenFile's context
// lasts. It returns io.EOF with fewer bytes at the file's end.
func (f *FileReader) ReadAt(b []byte, off int64) (int, error) {
	return f.readAt(f.ctx, b, off)
}

// ReadAtContext is ReadAt ending also when ctx does: a read that one
// caller gives up on, of a stream that stays open.
func (f *FileReader) ReadAtContext(ctx context.Context, b []byte, off int64) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(f.ctx, cancel)
	defer stop()
	return f.readAt(ctx, b, off)
}

func (f *FileReader) readAt(ctx context.Context, b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := min(int64(len(b)), f.size-off)
	got, err := f.r.ReadAt(ctx, b[:n], f.off+off)
	switch {
	case got == int(n) && n < int64(len(b)):
		return got, io.EOF
	case got == int(n):
		return got, nil
	case f.closed.Load() && errors.Is(err, context.Canceled):
		return got, fmt.Errorf("file reader %w", ErrClosed)
	}
	return got, err
}
