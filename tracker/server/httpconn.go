package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Limits of the HTTP front end. A request (line and headers) must fit in
// maxRequestBytes, arrive within headerTimeout of its first byte, and
// its answer be taken within writeTimeout; a connection may idle
// idleTimeout between requests.
const (
	maxRequestBytes = 8 << 10
	headerTimeout   = 5 * time.Second
	writeTimeout    = 10 * time.Second
	idleTimeout     = 60 * time.Second
)

// httpConn is one client connection of the front end and its buffers,
// pooled across connections.
type httpConn struct {
	buf [maxRequestBytes]byte
	out []byte
	xff []string
	io  connIO
}

var httpConnPool = sync.Pool{New: func() any { return new(httpConn) }}

// serveConn answers the requests of one connection in order (pipelined
// requests included) until the client closes it, a limit is hit, or ctx
// ends. Announces and scrapes are parsed and answered here directly:
// net/http costs several times the tracker's own work per request.
// Anything else (/metrics, /stats, errors) goes through ServeHTTP.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	var remote netip.AddrPort
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.AddrPort()
	}
	hc := httpConnPool.Get().(*httpConn)
	hc.io.reset(c)
	defer func() {
		hc.io.release()
		httpConnPool.Put(hc)
	}()
	s.serveRequests(ctx, hc, remote, 0, 1)
}

// serveRequests is serveConn's loop over the requests of hc.io.c, of
// which n bytes are already in hc.buf; served counts the requests
// answered so far plus one.
func (s *Server) serveRequests(ctx context.Context, hc *httpConn, remote netip.AddrPort, n, served int) {
	c := hc.io.c
	for ; ctx.Err() == nil; served++ {
		end, scanned := -1, 0
		var due time.Time // when a begun request must be whole
		for {
			from := max(scanned-3, 0)
			if i := bytes.Index(hc.buf[from:n], crlfcrlf); i >= 0 {
				end = from + i + 4
				break
			}
			scanned = n
			if n == len(hc.buf) {
				s.writeSimple(&hc.io, hc, http.StatusRequestHeaderFieldsTooLarge, "request headers too large")
				return
			}
			m, err := hc.io.tryRead(hc.buf[n:])
			if errors.Is(err, errWouldBlock) {
				// Only now arm a deadline: an idle connection may wait
				// idleTimeout for its next request, and a request that
				// has begun must be whole within headerTimeout however
				// slowly its bytes trickle in.
				if n == 0 {
					c.SetReadDeadline(time.Now().Add(idleTimeout))
				} else {
					if due.IsZero() {
						due = time.Now().Add(headerTimeout)
					}
					c.SetReadDeadline(due)
				}
				// Shutdown cancels ctx before it wakes idle connections
				// with an expired deadline: checking after arming ours
				// cannot miss it.
				if ctx.Err() != nil {
					return
				}
				m, err = c.Read(hc.buf[n:])
			}
			n += m
			if err != nil && m == 0 {
				return
			}
		}
		keep := s.handleRequest(ctx, &hc.io, hc, remote, hc.buf[:end], served)
		n = copy(hc.buf[:], hc.buf[end:n])
		if !keep {
			return
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// handleRequest answers one request (line and headers in req) and
// reports whether the connection may carry another.
func (s *Server) handleRequest(ctx context.Context, c *connIO, hc *httpConn, remote netip.AddrPort, req []byte, served int) bool {
	line, rest, _ := bytes.Cut(req, crlf)
	method, line, ok1 := bytes.Cut(line, sp)
	target, proto, ok2 := bytes.Cut(line, sp)
	if !ok1 || !ok2 || (string(proto) != "HTTP/1.1" && string(proto) != "HTTP/1.0") {
		s.writeSimple(c, hc, http.StatusBadRequest, "malformed request line")
		return false
	}
	keep := string(proto) == "HTTP/1.1"
	hc.xff = hc.xff[:0]
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, colon)
		if !ok {
			s.writeSimple(c, hc, http.StatusBadRequest, "malformed header")
			return false
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Connection"):
			if bytes.Contains(bytes.ToLower(value), []byte("close")) {
				keep = false
			} else if bytes.Contains(bytes.ToLower(value), []byte("keep-alive")) {
				keep = true
			}
		case asciiEqualFold(name, "Content-Length"):
			if string(value) != "0" {
				s.writeSimple(c, hc, http.StatusRequestEntityTooLarge, "request bodies are not accepted")
				return false
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			s.writeSimple(c, hc, http.StatusRequestEntityTooLarge, "request bodies are not accepted")
			return false
		case asciiEqualFold(name, "X-Forwarded-For"):
			if len(s.cfg.TrustedProxies) > 0 {
				hc.xff = append(hc.xff, string(value))
			}
		}
	}
	if served >= maxRequestsPerConn {
		keep = false
	}
	path, query, _ := bytes.Cut(target, question)
	isGet, isHead := string(method) == "GET", string(method) == "HEAD"
	var k kind
	switch {
	case (isGet || isHead) && string(path) == "/announce":
		k = kindAnnounceHTTP
	case (isGet || isHead) && string(path) == "/scrape":
		k = kindScrapeHTTP
	default:
		return s.serveOther(ctx, c, hc, remote, req, keep)
	}
	start := time.Now()
	st := s.pool.Get().(*httpState)
	defer s.pool.Put(st)
	r := httpRequest{ctx: ctx, rawQuery: string(query), remote: remote, xff: hc.xff}
	var body []byte
	var o outcome
	if k == kindAnnounceHTTP {
		body, o = s.announceBody(r, st)
	} else {
		body, o = s.scrapeBody(r, st)
	}
	var err error
	if body == nil {
		err = s.writeSimple(c, hc, http.StatusInternalServerError, "internal error")
	} else {
		out := append(hc.out[:0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "...)
		out = strconv.AppendInt(out, int64(len(body)), 10)
		if !keep {
			out = append(out, "\r\nConnection: close"...)
		}
		out = append(out, "\r\n\r\n"...)
		if !isHead {
			out = append(out, body...)
		}
		hc.out = out
		err = c.write(out)
	}
	s.metrics.observe(k, o, time.Since(start))
	return keep && err == nil
}

var (
	crlf     = []byte("\r\n")
	sp       = []byte(" ")
	colon    = []byte(":")
	question = []byte("?")
)

// asciiEqualFold compares a header name without allocating.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// writeSimple sends a short plain-text error answer and asks the client
// to close.
func (s *Server) writeSimple(c *connIO, hc *httpConn, status int, msg string) error {
	out := append(hc.out[:0], "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(msg)+1), 10)
	out = append(out, "\r\n\r\n"...)
	out = append(out, msg...)
	out = append(out, '\n')
	hc.out = out
	return c.write(out)
}

// serveOther hands a request that is not an announce or scrape to
// ServeHTTP through net/http's own parser, buffering the answer.
func (s *Server) serveOther(ctx context.Context, c *connIO, hc *httpConn, remote netip.AddrPort, req []byte, keep bool) bool {
	hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(req)))
	if err != nil {
		s.writeSimple(c, hc, http.StatusBadRequest, "malformed request")
		return false
	}
	hr.RemoteAddr = remote.String()
	hr = hr.WithContext(ctx)
	rw := &bufferedResponse{header: http.Header{}}
	s.ServeHTTP(rw, hr)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(rw.status) + " " + http.StatusText(rw.status) + "\r\n")
	rw.header.Del("Content-Length")
	rw.header.Del("Connection")
	rw.header.Write(&b)
	if !keep || rw.header.Get("Connection") == "close" {
		keep = false
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(rw.body.Len()) + "\r\n\r\n")
	if hr.Method != http.MethodHead {
		b.Write(rw.body.Bytes())
	}
	err = c.write(b.Bytes())
	return keep && err == nil
}

// bufferedResponse is the http.ResponseWriter of serveOther.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *bufferedResponse) Header() http.Header { return r.header }

func (r *bufferedResponse) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *bufferedResponse) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
