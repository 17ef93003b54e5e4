package fs

import (
	"context"
	"errors"
	"io"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// handle is one open file. It owns an engine Reader so the engine sees
// this handle's reads as one stream (sequential or seeking) and withdraws
// its demands when the file is closed.
type handle struct {
	f *file
	r Reader
}

var (
	_ = (fusefs.FileReader)((*handle)(nil))
	_ = (fusefs.FileReleaser)((*handle)(nil))
)

func newHandle(f *file) *handle {
	mf := &f.st.info.Files[f.index]
	return &handle{f: f, r: f.st.t.OpenReader(mf.Offset, mf.Length)}
}

// Read blocks until the bytes under the read are verified. It fails with
// EINTR as soon as the kernel cancels ctx (the reading process got a
// signal), and with EIO, logged, when the engine cannot supply the bytes
// (a stall past the read timeout, a closed torrent). It never returns
// bytes the engine has not verified, nor a short read before the end.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	mf := &h.f.st.info.Files[h.f.index]
	if off >= mf.Length || off < 0 {
		return fuse.ReadResultData(nil), 0
	}
	buf := dest[:min(int64(len(dest)), mf.Length-off)]
	got := 0
	for got < len(buf) {
		n, err := h.r.ReadAt(ctx, buf[got:], mf.Offset+off+int64(got))
		got += n
		if err == nil && n == 0 {
			err = io.ErrNoProgress
		}
		if err == nil || (errors.Is(err, io.EOF) && got == len(buf)) {
			continue
		}
		if ctx.Err() != nil || errors.Is(err, context.Canceled) {
			return nil, syscall.EINTR
		}
		h.f.st.log.Error("read failed", "file", h.f.path(), "offset", off+int64(got),
			"infohash", h.f.st.t.InfoHash(), "err", err)
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(buf), 0
}

// Release withdraws the handle's demands from the engine. The kernel
// sends it only once no read of the handle is in flight.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	if err := h.r.Close(); err != nil {
		h.f.st.log.Warn("closing reader", "file", h.f.path(), "err", err)
	}
	return 0
}
