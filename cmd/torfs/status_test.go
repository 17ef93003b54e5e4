package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/torfs/torfs/mount"
)

func TestPrintStatusCountsInWords(t *testing.T) {
	st := mount.Status{Listen: "127.0.0.1:1", Torrents: []mount.TorrentStatus{{
		Name: "film", Length: 10, Verified: 5, Evictions: 1,
		Peers: []mount.PeerStatus{{Addr: "127.0.0.1:2", Transport: "tcp"}},
	}}}
	var out bytes.Buffer
	printStatus(&out, st, false)
	for _, want := range []string{"1 peer;", "1 eviction\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not say %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "1 peers") || strings.Contains(out.String(), "1 evictions") {
		t.Errorf("status says a plural of one:\n%s", out.String())
	}
}
