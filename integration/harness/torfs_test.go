package harness

import (
	"os"
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

// TestProcessCPU: the CPU time of this process, read from /proc, grows
// while it computes.
func TestProcessCPU(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for i := 0; ; i++ {
		sum += i * i
		if i%1_000_000 != 0 {
			continue
		}
		after, err := ProcessCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			break
		}
		if i > 1e11 {
			t.Fatalf("CPU time stayed at %v while computing (sum %d)", after, sum)
		}
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Error("no error for a process that cannot exist")
	}
}
