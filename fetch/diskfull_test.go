package fetch

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDiskFullFailsRead: once the disk under the storage is full and it
// cannot hold even one piece, a read waiting for a piece fails at once
// with the disk-full error, without a stall timeout, instead of the piece
// being fetched again and again; later reads fail at once too, and the
// stall reason names the full disk.
func TestDiskFullFailsRead(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.fillsUp = true // the first write meets a full disk
	tor := addTorrent(t, c, mi, st, TorrentOptions{Peers: []string{seed.Addr().String()}})
	r := tor.NewReader(ReaderOptions{})
	defer r.Close()
	// The deadline only bounds a failing test: nothing here times out.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, off := range []int64{5 << 16, 9 << 16} {
		n, err := r.ReadAt(ctx, make([]byte, 1000), off)
		if n != 0 || !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("ReadAt(%d) = %d, %v; want 0 and the disk-full error", off, n, err)
		}
		if !strings.Contains(err.Error(), "/mem/cache") {
			t.Fatalf("%q does not name the cache", err)
		}
	}
	if err := tor.DiskFull(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("DiskFull() = %v", err)
	}
	tor.mu.Lock()
	reason := tor.stallReason(0)
	tor.mu.Unlock()
	if !strings.Contains(reason, "cache disk full") {
		t.Fatalf("stall reason %q does not say the disk is full", reason)
	}
}

// TestDiskFullReadStillFits: after the disk filled up the storage holds
// four pieces; reading the whole torrent through them still works, by
// evicting what was read.
func TestDiskFullReadStillFits(t *testing.T) {
	mi, data := testTorrent(t, 1<<20, 64<<10)
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	st.fillsUp, st.fullAfter, st.capAfterFull = true, 3, 4
	tor := addTorrent(t, c, mi, st, TorrentOptions{Peers: []string{seed.Addr().String()}})
	r := tor.NewReader(ReaderOptions{Readahead: 128 << 10})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]byte, 64<<10)
	for off := int64(0); off < mi.Info.Length; off += int64(len(buf)) {
		n, err := r.ReadAt(ctx, buf, off)
		if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d) = %d, %v (bytes equal: %v)", off, n, err, bytes.Equal(buf[:n], data[off:off+int64(n)]))
		}
	}
	if err := tor.DiskFull(); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("DiskFull() = %v; the disk never filled up", err)
	}
	st.mu.Lock()
	evicted := st.evicted
	st.mu.Unlock()
	if evicted == 0 {
		t.Fatal("16 pieces read through 4 without evicting")
	}
}
