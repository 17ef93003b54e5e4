package tracker

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// connIO reads and writes one connection of the HTTP front end, arming a
// deadline only when a call would block. Almost every request has
// arrived whole by the time it is read, and its answer fits in the
// socket buffer, so most connections never touch the runtime's timers:
// arming and clearing a deadline costs more than the tracker's own work
// on an announce over a fresh connection. A connIO lives in a pooled
// httpConn, so its system-call closures are made once, not per request.
type connIO struct {
	c  net.Conn
	rc syscall.RawConn // nil when c has no descriptor (net.Pipe, TLS)

	// Arguments and results of readFn and writeFn.
	b    []byte
	n    int
	serr error

	readFn, writeFn func(fd uintptr) bool
}

// errWouldBlock says the fast path found nothing to do without waiting.
var errWouldBlock = errors.New("would block")

var errEOF = errors.New("connection closed by the client")

// reset points ci at a new connection.
func (ci *connIO) reset(c net.Conn) {
	if ci.readFn == nil {
		// Returning true tells the runtime not to wait: one attempt
		// only.
		ci.readFn = func(fd uintptr) bool {
			ci.n, ci.serr = syscall.Read(int(fd), ci.b)
			return true
		}
		ci.writeFn = func(fd uintptr) bool {
			ci.n, ci.serr = syscall.Write(int(fd), ci.b)
			return true
		}
	}
	ci.c, ci.rc, ci.b = c, nil, nil
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			ci.rc = rc
		}
	}
}

// release drops the references to the connection.
func (ci *connIO) release() { ci.c, ci.rc, ci.b, ci.serr = nil, nil, nil, nil }

// tryRead reads what has arrived into b without waiting: errWouldBlock
// when nothing has, errEOF when the client closed.
func (ci *connIO) tryRead(b []byte) (int, error) {
	if ci.rc == nil {
		return 0, errWouldBlock
	}
	ci.b = b
	err := ci.rc.Read(ci.readFn)
	n, serr := ci.n, ci.serr
	ci.b, ci.serr = nil, nil
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// A deadline armed for an earlier wait has passed; the caller
		// arms a fresh one before it waits, and sees a shutdown then.
		return 0, errWouldBlock
	case err != nil:
		return 0, err
	case serr == syscall.EAGAIN || serr == syscall.EINTR:
		return 0, errWouldBlock
	case serr != nil:
		return 0, serr
	case n == 0 && len(b) > 0:
		return 0, errEOF
	}
	return n, nil
}

// write sends all of b, arming the write deadline only if the socket
// cannot take it at once.
func (ci *connIO) write(b []byte) error {
	if ci.rc != nil {
		ci.b = b
		err := ci.rc.Write(ci.writeFn)
		n, serr := ci.n, ci.serr
		ci.b, ci.serr = nil, nil
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			// An old deadline: write the usual way with a fresh one.
		case err != nil:
			return err
		case serr == nil:
			b = b[n:]
		case serr != syscall.EAGAIN && serr != syscall.EINTR:
			return serr
		}
		if len(b) == 0 {
			return nil
		}
	}
	ci.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := ci.c.Write(b)
	return err
}
