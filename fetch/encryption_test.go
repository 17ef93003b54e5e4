package fetch

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/torfs/torfs/mse"
)

// TestEncryptionPolicies downloads a piece between two clients of every
// pair of policies that can talk, and checks whether the connection is
// encrypted.
func TestEncryptionPolicies(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	for _, tc := range []struct {
		leech, seed Encryption
		mse         bool // the handshake was MSE's
		encrypted   bool // the payload is RC4
	}{
		// Both offering both: an MSE handshake, the payload plaintext,
		// as between two libtorrents with default settings.
		{EncryptionPrefer, EncryptionPrefer, true, false},
		{EncryptionPrefer, EncryptionRequire, true, true},
		{EncryptionRequire, EncryptionPrefer, true, true},
		{EncryptionRequire, EncryptionRequire, true, true},
		{EncryptionPrefer, EncryptionOff, false, false}, // falls back to plaintext
		{EncryptionOff, EncryptionPrefer, false, false},
		{EncryptionOff, EncryptionOff, false, false},
	} {
		t.Run(tc.leech.String()+"->"+tc.seed.String(), func(t *testing.T) {
			seed := newTestClient(t, Config{Encryption: tc.seed})
			addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
			leech := newTestClient(t, Config{Encryption: tc.leech})
			tor := addTorrent(t, leech, mi, newMemStorage(&mi.Info, nil), TorrentOptions{Peers: []string{seed.Addr().String()}})
			r := tor.NewReader(ReaderOptions{Readahead: 64 << 10, StallTimeout: 20 * time.Second})
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			buf := make([]byte, 1000)
			if n, err := r.ReadAt(ctx, buf, 300000); err != nil || !bytes.Equal(buf[:n], data[300000:300000+n]) {
				t.Fatalf("ReadAt = %d, %v (or wrong bytes)", n, err)
			}
			// Not a seed yet: the connection stays up to be looked at.
			peers := tor.Stats().Peers
			if len(peers) != 1 {
				t.Fatalf("%d peers, want the seed", len(peers))
			}
			if peers[0].Encrypted != tc.encrypted {
				t.Fatalf("Encrypted = %v, want %v", peers[0].Encrypted, tc.encrypted)
			}
			tor.mu.Lock()
			for p := range tor.peers {
				if _, ok := p.conn.(*mse.Conn); ok != tc.mse {
					t.Errorf("MSE handshake %v, want %v", ok, tc.mse)
				}
			}
			tor.mu.Unlock()
		})
	}
}

// TestEncryptionMismatch: a client with encryption off cannot reach one
// that requires it, and the reason shows.
func TestEncryptionMismatch(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	for _, tc := range []struct{ leech, seed Encryption }{
		{EncryptionOff, EncryptionRequire},
		{EncryptionRequire, EncryptionOff},
	} {
		t.Run(tc.leech.String()+"->"+tc.seed.String(), func(t *testing.T) {
			seed := newTestClient(t, Config{Encryption: tc.seed})
			addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
			failed := make(chan string, 16)
			log := slog.New(&dialFailures{ch: failed})
			leech := newTestClient(t, Config{Encryption: tc.leech, Logger: log})
			tor := addTorrent(t, leech, mi, newMemStorage(&mi.Info, nil), TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}})
			select {
			case msg := <-failed:
				if !strings.Contains(msg, "handshake") {
					t.Fatalf("the failure %q does not name the handshake", msg)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no failed connection after 20s")
			}
			if s := tor.Stats(); s.VerifiedPieces != 0 || len(s.Peers) != 0 {
				t.Fatalf("connected across policies that cannot talk: %+v", s)
			}
		})
	}
}

// dialFailures sends the error of each "cannot connect to peer" record.
type dialFailures struct {
	ch chan<- string
}

func (h *dialFailures) Enabled(context.Context, slog.Level) bool { return true }
func (h *dialFailures) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *dialFailures) WithGroup(string) slog.Handler            { return h }

func (h *dialFailures) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "cannot connect to peer" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			select {
			case h.ch <- a.Value.String():
			default: // the test looks at the first ones only
			}
		}
		return true
	})
	return nil
}
