package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/metainfo"
)

// Opentracker is a running opentracker (Debian's whitelist-only build)
// serving HTTP and UDP on one loopback port.
type Opentracker struct {
	proc *Process
	port int
}

// StartOpentracker starts opentracker on a free loopback port with the
// given info-hashes whitelisted and waits until it answers an announce.
// opentracker refuses torrents that are not whitelisted.
func StartOpentracker(tb testing.TB, infoHashes ...metainfo.Hash) *Opentracker {
	tb.Helper()
	Require(tb, "opentracker")
	dir := tb.TempDir()
	var wl strings.Builder
	for _, h := range infoHashes {
		wl.WriteString(h.String() + "\n")
	}
	// opentracker chroots into -d, so the whitelist is named relative to it.
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(wl.String()), 0o644); err != nil {
		tb.Fatalf("opentracker whitelist: %v", err)
	}
	start := func(port int) (*Process, error) {
		return startProcess(procSpec{
			name: "opentracker",
			path: "opentracker",
			dir:  dir,
			args: []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-P", strconv.Itoa(port),
				"-w", "whitelist", "-d", dir},
			// opentracker refuses to run as root and switches to nobody,
			// which clears the kill-on-parent-death signal.
			lifeline: true,
		})
	}
	ready := func(ctx context.Context, p *Process, port int) error {
		return (&Opentracker{proc: p, port: port}).waitReady(ctx)
	}
	p, port := startServer(tb, "opentracker", start, ready)
	return &Opentracker{proc: p, port: port}
}

// waitReady polls until opentracker answers HTTP.
func (ot *Opentracker) waitReady(ctx context.Context) error {
	url := ot.AnnounceURL() + "?info_hash=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00" +
		"&peer_id=-HARNESS-00000000000&port=1&left=0&compact=1&event=stopped"
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(string(body), "d") {
				return nil
			}
			err = fmt.Errorf("answer %s %q", resp.Status, body)
		}
		if _, exited := ot.proc.Exited(); exited {
			return fmt.Errorf("opentracker exited: %v\n%s", err, ot.proc.Output())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("opentracker does not answer on port %d (%v): %w\n%s", ot.port, err, ctx.Err(), ot.proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Port is the TCP and UDP port.
func (ot *Opentracker) Port() int { return ot.port }

// AnnounceURL is the HTTP announce URL.
func (ot *Opentracker) AnnounceURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/announce", ot.port)
}

// UDPAnnounceURL is the UDP (BEP 15) announce URL.
func (ot *Opentracker) UDPAnnounceURL() string {
	return fmt.Sprintf("udp://127.0.0.1:%d/announce", ot.port)
}

// Process is the underlying process.
func (ot *Opentracker) Process() *Process { return ot.proc }
