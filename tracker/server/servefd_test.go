package server

import (
	"io"
	"strings"
	"testing"
)

// TestFrontEndSplitRequestAndClose covers the bare-descriptor path: a
// request whose first bytes arrive alone (the connection must be
// promoted to wait for the rest), and "Connection: close" answered and
// closed without a wait.
func TestFrontEndSplitRequestAndClose(t *testing.T) {
	_, httpURL, _ := startServer(t, Config{})
	q := announceQ(hashOf(7), 1, "")

	c, br := rawConn(t, httpURL)
	c.Write([]byte("GET " + q))
	c.Write([]byte(" HTTP/1.1\r\nHost: x\r\n\r\n"))
	resp, body := readResp(t, br, "GET")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "d8:complete") || resp.Close {
		t.Fatalf("split request: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	// The same connection carries a second request.
	c.Write([]byte("GET " + q + " HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp, body = readResp(t, br, "GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "d8:complete") {
		t.Fatalf("second request: %d %q", resp.StatusCode, body)
	}

	c2, br2 := rawConn(t, httpURL)
	c2.Write([]byte("GET " + q + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	resp, body = readResp(t, br2, "GET")
	if resp.StatusCode != 200 || !strings.Contains(body, "10:incompletei1e") || !resp.Close {
		t.Fatalf("close: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after Connection: close: %v", err)
	}
}
