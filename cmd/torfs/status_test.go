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

func TestPrintStatusDHTNodesPerFamily(t *testing.T) {
	for _, c := range []struct {
		nodes map[string]int
		want  string
	}{
		{map[string]int{"ipv4": 120, "ipv6": 0}, "DHT nodes: 120 IPv4, 0 IPv6\n"},
		{map[string]int{"ipv6": 7}, "DHT nodes: 7 IPv6\n"},
		{nil, ""},
	} {
		var out bytes.Buffer
		printStatus(&out, mount.Status{Listen: "[::]:1", DHTNodes: c.nodes}, false)
		got := ""
		if i := strings.Index(out.String(), "DHT"); i >= 0 {
			got = out.String()[i:]
			got = got[:strings.IndexByte(got, '\n')+1]
		}
		if got != c.want {
			t.Errorf("DHT nodes %v: status says %q, want %q:\n%s", c.nodes, got, c.want, out.String())
		}
	}
}
