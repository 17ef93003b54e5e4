package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
)

// serveFD answers a connection from rawAcceptor, closing it at the end.
// The common case, a whole request already there and a close after the
// answer, never waits; otherwise the connection is promoted to a
// net.Conn, handed to track (so that shutdown can wake it; track returns
// the undo), and served like any other.
func (s *Server) serveFD(ctx context.Context, fd int, remote netip.AddrPort, track func(net.Conn) func()) {
	hc := httpConnPool.Get().(*httpConn)
	hc.io.resetFD(fd)
	defer func() {
		hc.io.close()
		httpConnPool.Put(hc)
	}()
	m, err := hc.io.tryRead(hc.buf[:])
	if err != nil && !errors.Is(err, errWouldBlock) {
		return
	}
	n, served := max(m, 0), 1
	if i := bytes.Index(hc.buf[:n], crlfcrlf); i >= 0 {
		if ctx.Err() != nil {
			return
		}
		end := i + len(crlfcrlf)
		if !s.handleRequest(ctx, &hc.io, hc, remote, hc.buf[:end], served) {
			return
		}
		n = copy(hc.buf[:], hc.buf[end:n])
		served++
	}
	if err := hc.io.promote(); err != nil {
		s.log.Warn("tracker drops a connection", "err", err)
		return
	}
	defer track(hc.io.c)()
	s.serveRequests(ctx, hc, remote, n, served)
}
