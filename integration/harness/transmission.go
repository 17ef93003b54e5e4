package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Transmission is a running transmission-daemon (Debian's
// transmission-daemon) with one torrent, driven over its RPC interface.
// It is sandboxed: its own config directory, peers and RPC on loopback
// only, no DHT, LPD, PEX, uTP, UPnP/NAT-PMP or blocklist, no encryption
// preferred. Transmission never connects to peers a tracker names on
// 127.x, so connect to it (its Addr) instead.
type Transmission struct {
	proc      *Process
	peerPort  int
	rpcURL    string
	client    *http.Client
	mu        sync.Mutex
	sessionID string // for RPC, from the daemon's 409 answer
}

// TransmissionOptions configures StartTransmission.
type TransmissionOptions struct {
	Torrent string // path of the .torrent
	// Save is the download directory: it holds (seed) or receives
	// (leech) the torrent's Info.Name.
	Save string
}

// TransmissionTorrent is the part of the torrent's status the tests use.
type TransmissionTorrent struct {
	Status       int     `json:"status"` // 6 = seeding
	PercentDone  float64 `json:"percentDone"`
	UploadedEver int64   `json:"uploadedEver"`
	Error        int     `json:"error"`
	ErrorString  string  `json:"errorString"`
}

// transmissionSeeding is Transmission's status of a torrent it serves.
const transmissionSeeding = 6

// StartTransmission starts transmission-daemon with opts.Torrent added and
// waits until the daemon answers RPC. It is stopped when the test ends.
func StartTransmission(tb testing.TB, opts TransmissionOptions) *Transmission {
	tb.Helper()
	Require(tb, "transmission-daemon")
	cfg := tb.TempDir()
	var tr *Transmission
	start := func(port int) (*Process, error) {
		// A clash on the peer port makes the daemon exit: startServer
		// then retries with fresh ports.
		peerPort, err := freePort()
		if err != nil {
			return nil, err
		}
		settings := map[string]any{
			"bind-address-ipv4":           "127.0.0.1",
			"bind-address-ipv6":           "::1",
			"rpc-bind-address":            "127.0.0.1",
			"rpc-port":                    port,
			"rpc-enabled":                 true,
			"rpc-authentication-required": false,
			"rpc-whitelist-enabled":       true,
			"rpc-whitelist":               "127.0.0.1",
			"rpc-host-whitelist-enabled":  false,
			"peer-port":                   peerPort,
			"peer-port-random-on-start":   false,
			"dht-enabled":                 false,
			"lpd-enabled":                 false,
			"pex-enabled":                 false,
			"utp-enabled":                 false,
			"port-forwarding-enabled":     false,
			"blocklist-enabled":           false,
			"encryption":                  0, // plaintext preferred
			"download-dir":                opts.Save,
			"incomplete-dir-enabled":      false,
			"watch-dir-enabled":           false,
			"start-added-torrents":        true,
			"ratio-limit-enabled":         false,
			"idle-seeding-limit-enabled":  false,
			"speed-limit-up-enabled":      false,
			"speed-limit-down-enabled":    false,
			"message-level":               2, // info
		}
		b, err := json.Marshal(settings)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o644); err != nil {
			return nil, fmt.Errorf("transmission settings: %w", err)
		}
		tr = &Transmission{
			peerPort: peerPort,
			rpcURL:   "http://127.0.0.1:" + strconv.Itoa(port) + "/transmission/rpc",
			client:   &http.Client{Timeout: 5 * time.Second},
		}
		p, err := startProcess(procSpec{
			name: "transmission-daemon",
			path: "transmission-daemon",
			args: []string{"--foreground", "--config-dir", cfg, "--log-info"},
			dir:  cfg,
			// It reads $HOME for nothing else, but keep it in the sandbox.
			env: []string{"HOME=" + cfg},
		})
		tr.proc = p
		return p, err
	}
	ready := func(ctx context.Context, p *Process, port int) error {
		for {
			err := tr.call(ctx, "session-get", map[string]any{"fields": []string{"version"}}, nil)
			if err == nil {
				return nil
			}
			select {
			case <-p.Done():
				return fmt.Errorf("transmission-daemon exited: %v\n%s", err, p.Output())
			case <-ctx.Done():
				return fmt.Errorf("transmission-daemon does not answer RPC: %v: %w", err, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	startServer(tb, "transmission-daemon", start, ready)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var added struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	if err := tr.call(ctx, "torrent-add", map[string]any{"filename": opts.Torrent, "download-dir": opts.Save}, &added); err != nil {
		tb.Fatalf("transmission: add %s: %v", opts.Torrent, err)
	}
	if added.Added == nil {
		tb.Fatalf("transmission: %s was not added", opts.Torrent)
	}
	return tr
}

// Addr is the HOST:PORT Transmission accepts peers on.
func (tr *Transmission) Addr() string { return "127.0.0.1:" + strconv.Itoa(tr.peerPort) }

// Process is the daemon's process.
func (tr *Transmission) Process() *Process { return tr.proc }

// Torrent returns the status of the daemon's torrent.
func (tr *Transmission) Torrent(ctx context.Context) (TransmissionTorrent, error) {
	var res struct {
		Torrents []TransmissionTorrent `json:"torrents"`
	}
	args := map[string]any{"fields": []string{"status", "percentDone", "uploadedEver", "error", "errorString"}}
	if err := tr.call(ctx, "torrent-get", args, &res); err != nil {
		return TransmissionTorrent{}, err
	}
	if len(res.Torrents) != 1 {
		return TransmissionTorrent{}, fmt.Errorf("transmission has %d torrents, want 1", len(res.Torrents))
	}
	return res.Torrents[0], nil
}

// WaitSeeding waits until Transmission has checked its data and seeds
// the complete torrent.
func (tr *Transmission) WaitSeeding(ctx context.Context) error {
	for {
		st, err := tr.Torrent(ctx)
		if err == nil && st.Error != 0 {
			return fmt.Errorf("transmission: torrent error %d: %s", st.Error, st.ErrorString)
		}
		if err == nil && st.Status == transmissionSeeding && st.PercentDone == 1 {
			return nil
		}
		select {
		case <-tr.proc.Done():
			return fmt.Errorf("transmission-daemon exited\n%s", tr.proc.Output())
		case <-ctx.Done():
			return fmt.Errorf("transmission is not seeding (last status %+v, %v): %w", st, err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// call makes one RPC call; result, when not nil, receives "arguments".
// The first call learns the CSRF session id from the 409 answer.
func (tr *Transmission) call(ctx context.Context, method string, args, result any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tr.rpcURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		tr.mu.Lock()
		req.Header.Set("X-Transmission-Session-Id", tr.sessionID)
		tr.mu.Unlock()
		resp, err := tr.client.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusConflict {
			tr.mu.Lock()
			tr.sessionID = resp.Header.Get("X-Transmission-Session-Id")
			tr.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("transmission RPC %s: %s: %s", method, resp.Status, b)
		}
		var reply struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &reply); err != nil {
			return fmt.Errorf("transmission RPC %s: %w", method, err)
		}
		if reply.Result != "success" {
			return fmt.Errorf("transmission RPC %s: %s", method, reply.Result)
		}
		if result != nil {
			return json.Unmarshal(reply.Arguments, result)
		}
		return nil
	}
	return errors.New("transmission RPC: no session id")
}
