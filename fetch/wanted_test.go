package fetch

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDownloadWantedOnly: DownloadAll with Wanted fetches the selected
// pieces and nothing else, and WantedComplete closes once they are held
// while Complete stays open.
func TestDownloadWantedOnly(t *testing.T) {
	mi, data := testTorrent(t, 4<<20+777, 64<<10)
	n := mi.Info.NumPieces()
	seed := newTestClient(t, Config{})
	addTorrent(t, seed, mi, newMemStorage(&mi.Info, data), TorrentOptions{})
	wanted := make([]bool, n)
	for _, i := range []int{3, 4, 5, 40, n - 1} {
		wanted[i] = true
	}
	c := newTestClient(t, Config{})
	st := newMemStorage(&mi.Info, nil)
	tor := addTorrent(t, c, mi, st, TorrentOptions{DownloadAll: true, Peers: []string{seed.Addr().String()}, Wanted: wanted})
	select {
	case <-tor.WantedComplete():
	case <-time.After(30 * time.Second):
		t.Fatalf("the wanted pieces are not complete after 30s: %+v", tor.Stats())
	}
	pl := mi.Info.PieceLength
	for i := range n {
		if st.Have(i) != wanted[i] {
			t.Errorf("piece %d: held %v, wanted %v", i, st.Have(i), wanted[i])
		}
		if wanted[i] {
			off := int64(i) * pl
			end := min(off+pl, mi.Info.Length)
			if !bytes.Equal(st.bytes()[off:end], data[off:end]) {
				t.Errorf("piece %d: wrong bytes", i)
			}
		}
	}
	select {
	case <-tor.Complete():
		t.Error("Complete closed with only some pieces held")
	default:
	}
	if s := tor.Stats(); s.Downloaded > 5*pl {
		t.Errorf("downloaded %d bytes for 5 pieces of %d", s.Downloaded, pl)
	}
	if _, err := c.AddTorrent(context.Background(), mi, newMemStorage(&mi.Info, nil), TorrentOptions{Wanted: make([]bool, n+1)}); err == nil || !strings.Contains(err.Error(), "wanted pieces") {
		t.Errorf("AddTorrent with a Wanted of the wrong length: %v", err)
	}
}
