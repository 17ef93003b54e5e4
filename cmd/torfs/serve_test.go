package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPFlags(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		f               httpFlags
		addr, token, ok string // ok: "" for success, else a piece of the error
	}{
		{httpFlags{}, "", "", ""},
		{httpFlags{addr: "8080"}, "127.0.0.1:8080", "", ""},
		{httpFlags{addr: "[::1]:80"}, "[::1]:80", "", ""},
		{httpFlags{addr: "localhost:80"}, "localhost:80", "", ""},
		{httpFlags{addr: "0.0.0.0:8080", token: "t"}, "0.0.0.0:8080", "t", ""},
		{httpFlags{addr: ":8080", tokenFile: tokenFile}, ":8080", "from-file", ""},
		{httpFlags{addr: ":8080"}, "", "", "beyond loopback"},
		{httpFlags{addr: "0.0.0.0:8080"}, "", "", "--http-token-file"},
		{httpFlags{addr: "192.0.2.1:8080"}, "", "", "beyond loopback"},
		{httpFlags{addr: "example.com:80"}, "", "", "beyond loopback"},
		{httpFlags{addr: "nonsense"}, "", "", "HOST:PORT"},
		{httpFlags{token: "t"}, "", "", "need --http"},
		{httpFlags{addr: "8080", token: "t", tokenFile: tokenFile}, "", "", "not both"},
		{httpFlags{addr: "8080", tokenFile: filepath.Join(t.TempDir(), "none")}, "", "", "reading the HTTP token"},
	} {
		addr, token, err := c.f.resolve()
		switch {
		case c.ok == "" && (err != nil || addr != c.addr || token != c.token):
			t.Errorf("%+v: %q, %q, %v; want %q, %q", c.f, addr, token, err, c.addr, c.token)
		case c.ok != "" && (err == nil || !strings.Contains(err.Error(), c.ok)):
			t.Errorf("%+v: %v, want an error saying %q", c.f, err, c.ok)
		}
	}
}

func TestServeBadUsageExits2(t *testing.T) {
	for _, args := range [][]string{
		{"serve"},
		{"serve", "a.torrent", "b.torrent"},
		{"serve", "--http", "0.0.0.0:8080", "a.torrent"},
		{"serve", "--http", "", "a.torrent"},
		{"mount", "--http", "8080", "--status", "127.0.0.1:0", "a.torrent", "/mnt"},
		{"mount", "--http", ":8080", "a.torrent", "/mnt"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("torfs %s: exit %d, want 2\n%s", strings.Join(args, " "), code, stderr.String())
		}
	}
}
