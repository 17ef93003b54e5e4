package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawConn dials the test server's HTTP port.
func rawConn(t *testing.T, httpURL string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(httpURL, "http://"), "/announce"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestFrontEndPipeliningHeadAndHTTP10(t *testing.T) {
	_, httpURL, _ := startServer(t, Config{})
	c, br := rawConn(t, httpURL)
	q := announceQ(hashOf(1), 1, "")
	// Two requests in one write: two answers, in order.
	c.Write([]byte("GET " + q + " HTTP/1.1\r\nHost: x\r\n\r\nHEAD " + q + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "d8:complete") || resp.Close {
		t.Fatalf("first: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	resp, body = readResp(t, br, "HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength <= 0 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	// /metrics goes through net/http's parser on the same connection.
	c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp, body = readResp(t, br, "GET"); resp.StatusCode != 200 || !strings.Contains(body, "torfs_tracker_requests_total") {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	c.Write([]byte("GET " + q + " HTTP/1.0\r\n\r\n"))
	if resp, _ = readResp(t, br, "GET"); !resp.Close {
		t.Fatal("HTTP/1.0 without keep-alive left open")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after HTTP/1.0: %v", err)
	}
}

func TestFrontEndRefusesAbuse(t *testing.T) {
	_, httpURL, _ := startServer(t, Config{})
	for name, tc := range map[string]struct {
		req    string
		status int
	}{
		"huge headers": {"GET /announce HTTP/1.1\r\nX: " + strings.Repeat("a", maxRequestBytes) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		"body":         {"GET /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", http.StatusRequestEntityTooLarge},
		"chunked":      {"GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", http.StatusRequestEntityTooLarge},
		"bad line":     {"GARBAGE\r\n\r\n", http.StatusBadRequest},
		"bad header":   {"GET /announce HTTP/1.1\r\nnocolon\r\n\r\n", http.StatusBadRequest},
		"post":         {"POST /announce HTTP/1.1\r\nContent-Length: 0\r\n\r\n", http.StatusMethodNotAllowed},
		"http/2 line":  {"GET /announce HTTP/2.0\r\n\r\n", http.StatusBadRequest},
	} {
		c, br := rawConn(t, httpURL)
		c.Write([]byte(tc.req))
		resp, _ := readResp(t, br, "GET")
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.status)
		}
	}
}
