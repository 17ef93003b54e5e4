package server

import (
	"errors"
	"fmt"
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
	// fd, when c is nil, is a descriptor accepted by acceptRaw that the
	// runtime's poller does not know yet (-1 otherwise); promote turns it
	// into c as soon as anything must wait.
	fd int

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
	ci.c, ci.rc, ci.b, ci.fd = c, nil, nil, -1
	if c == nil {
		return
	}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			ci.rc = rc
		}
	}
}

// release drops the references to the connection.
func (ci *connIO) release() { ci.c, ci.rc, ci.b, ci.serr, ci.fd = nil, nil, nil, nil, -1 }

// resetFD points ci at a descriptor from acceptRaw.
func (ci *connIO) resetFD(fd int) {
	ci.reset(nil)
	ci.fd = fd
}

// promote hands ci.fd to the runtime's poller as ci.c, so that reads and
// writes can wait with deadlines.
func (ci *connIO) promote() error {
	if ci.c != nil {
		return nil
	}
	f := os.NewFile(uintptr(ci.fd), "tracker connection")
	c, err := net.FileConn(f) // a duplicate of the descriptor
	f.Close()
	ci.fd = -1
	if err != nil {
		return fmt.Errorf("tracker cannot wait on a connection: %w", err)
	}
	ci.reset(c)
	return nil
}

// close closes the connection, whichever form it has.
func (ci *connIO) close() {
	if ci.c != nil {
		ci.c.Close()
	} else if ci.fd >= 0 {
		syscall.Close(ci.fd)
	}
	ci.release()
}

// tryRead reads what has arrived into b without waiting: errWouldBlock
// when nothing has, errEOF when the client closed.
func (ci *connIO) tryRead(b []byte) (int, error) {
	var err error
	switch {
	case ci.c == nil:
		ci.n, ci.serr = syscall.Read(ci.fd, b)
	case ci.rc == nil:
		return 0, errWouldBlock
	default:
		ci.b = b
		err = ci.rc.Read(ci.readFn)
	}
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
	if ci.c == nil || ci.rc != nil {
		var err error
		if ci.c == nil {
			ci.n, ci.serr = syscall.Write(ci.fd, b)
		} else {
			ci.b = b
			err = ci.rc.Write(ci.writeFn)
		}
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
		if err := ci.promote(); err != nil {
			return err
		}
	}
	ci.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := ci.c.Write(b)
	return err
}
