package harness

import (
	"slices"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"get", "-o", "x", "a.torrent"}, []string{"get", "--no-dht", "--no-port-map", "-o", "x", "a.torrent"}},
		{[]string{"mount", "a.torrent", "/mnt"}, []string{"mount", "--no-dht", "--no-port-map", "a.torrent", "/mnt"}},
		{[]string{"seed", "--dht-bootstrap", "127.0.0.1:1", "a.torrent"}, []string{"seed", "--no-port-map", "--dht-bootstrap", "127.0.0.1:1", "a.torrent"}},
		{[]string{"get", "a.torrent", "--dht-bootstrap=127.0.0.1:1"}, []string{"get", "--no-port-map", "a.torrent", "--dht-bootstrap=127.0.0.1:1"}},
		{[]string{"seed", "--no-port-map", "--no-dht", "a.torrent"}, []string{"seed", "--no-port-map", "--no-dht", "a.torrent"}},
		{[]string{"info", "-no-dht", "m"}, []string{"info", "-no-dht", "m"}},
		{[]string{"tracker", "--listen", ":0"}, []string{"tracker", "--listen", ":0"}},
		{nil, nil},
	} {
		if got := loopbackOnly(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("loopbackOnly(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
