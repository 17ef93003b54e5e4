package metainfo

import (
	"slices"
	"strings"
	"testing"
)

const hexHash = "c0fda1edafdbdbb96443424e0b3899af7159d10e"

func TestParseMagnet(t *testing.T) {
	// The same hash in base32 (RFC 4648), lower case as some clients write it.
	const b32 = "yd62d3np3pn3szcdijhawoezv5yvtuio"
	tests := []struct {
		uri  string
		want Magnet
	}{
		{"magnet:?xt=urn:btih:" + hexHash, Magnet{}},
		{"magnet:?xt=urn:btih:" + strings.ToUpper(hexHash) + "&dn=My+File%21", Magnet{DisplayName: "My File!"}},
		{"magnet:?xt=urn:btih:" + b32, Magnet{}},
		{"MAGNET:?dn=x&xt=urn:btih:" + strings.ToUpper(b32) + "&tr=http%3A%2F%2Ft%2Fa&tr=udp://u:80&tr=udp://u:80&tr=",
			Magnet{DisplayName: "x", Trackers: []string{"http://t/a", "udp://u:80"}}},
		{"magnet:?xt=urn:btih:" + hexHash + "&x.pe=127.0.0.1:6881&x.pe=[::1]:7000&ws=http://w/f&xl=123&so=0",
			Magnet{Peers: []string{"127.0.0.1:6881", "[::1]:7000"}, WebSeeds: []string{"http://w/f"}}},
		{"magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&xt=urn:btih:" + hexHash, Magnet{}},
	}
	for _, tt := range tests {
		m, err := ParseMagnet(tt.uri)
		if err != nil {
			t.Errorf("ParseMagnet(%q): %v", tt.uri, err)
			continue
		}
		if m.InfoHash.String() != hexHash || m.DisplayName != tt.want.DisplayName ||
			!slices.Equal(m.Trackers, tt.want.Trackers) || !slices.Equal(m.Peers, tt.want.Peers) ||
			!slices.Equal(m.WebSeeds, tt.want.WebSeeds) {
			t.Errorf("ParseMagnet(%q) = %+v, want %+v", tt.uri, m, tt.want)
		}
		// String gives a link that parses to the same thing.
		again, err := ParseMagnet(m.String())
		if err != nil || again.InfoHash != m.InfoHash || again.DisplayName != m.DisplayName ||
			!slices.Equal(again.Trackers, m.Trackers) || !slices.Equal(again.Peers, m.Peers) {
			t.Errorf("round trip of %q: %+v, %v", m.String(), again, err)
		}
	}
}

func TestParseMagnetErrors(t *testing.T) {
	tests := []struct{ uri, want string }{
		{"http://example.com/a.torrent", "not a magnet link"},
		{"a.torrent", "not a magnet link"},
		{"magnet:?dn=x", "no xt=urn:btih: or xt=urn:btmh"},
		{"magnet:?xt=urn:sha1:" + hexHash, "no xt=urn:btih: or xt=urn:btmh"},
		{"magnet:?xt=urn:btmh:1114" + strings.Repeat("ab", 20), "not a SHA-256 multihash"},
		{"magnet:?xt=urn:btmh:1220" + strings.Repeat("zz", 32), "not hexadecimal"},
		{"magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&xt=urn:btmh:1220" + strings.Repeat("cd", 32), "two different urn:btmh"},
		{"magnet:?xt=urn:btih:" + hexHash[:39], "has 39 characters"},
		{"magnet:?xt=urn:btih:" + strings.Repeat("z", 40), "not hexadecimal"},
		{"magnet:?xt=urn:btih:" + strings.Repeat("1", 32), "not base32"},
		{"magnet:?xt=urn:btih:" + hexHash + "&xt=urn:btih:" + strings.Repeat("0", 40), "two different"},
		{"magnet:?xt=urn:btih:" + hexHash + "&x.pe=nohost", "x.pe"},
		{"magnet:?xt=urn:btih:" + hexHash + "&x.pe=h:99999", "x.pe"},
		{"magnet:?xt=%zz", "invalid magnet link"},
	}
	for _, tt := range tests {
		m, err := ParseMagnet(tt.uri)
		if err == nil {
			t.Errorf("ParseMagnet(%q) = %+v, want an error", tt.uri, m)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMagnet(%q) error %q does not mention %q", tt.uri, err, tt.want)
		}
	}
}

func TestMetaInfoMagnet(t *testing.T) {
	mi, err := Load("testdata/libtorrent/sample.torrent")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMagnet(mi.Magnet().String())
	if err != nil {
		t.Fatal(err)
	}
	if m.InfoHash != mi.InfoHash || m.DisplayName != mi.Info.Name || len(m.Trackers) == 0 {
		t.Errorf("magnet %+v does not match the torrent", m)
	}
}

func TestIsMagnet(t *testing.T) {
	for s, want := range map[string]bool{
		"magnet:?xt=urn:btih:abc": true, "MAGNET:?xt": true, "Magnet:": true,
		"magnet": false, "film.torrent": false, "./magnet:x": false, "": false,
	} {
		if got := IsMagnet(s); got != want {
			t.Errorf("IsMagnet(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseMagnetV2(t *testing.T) {
	v2 := strings.Repeat("ab", 32)
	m, err := ParseMagnet("magnet:?xt=urn:btmh:1220" + v2 + "&dn=x")
	if err != nil {
		t.Fatal(err)
	}
	if m.HasV1() || !m.HasV2() || m.InfoHashV2.String() != v2 || m.InfoHash.String() != v2[:40] {
		t.Errorf("v2-only link: v1 %v v2 %v, hashes %s %s", m.HasV1(), m.HasV2(), m.InfoHash, m.InfoHashV2)
	}
	if got, want := m.String(), "magnet:?xt=urn:btmh:1220"+v2+"&dn=x"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	hy, err := ParseMagnet("magnet:?xt=urn:btmh:1220" + strings.ToUpper(v2) + "&xt=urn:btih:" + hexHash)
	if err != nil {
		t.Fatal(err)
	}
	if !hy.HasV1() || !hy.HasV2() || hy.InfoHash.String() != hexHash || hy.InfoHashV2.String() != v2 {
		t.Errorf("hybrid link: %+v", hy)
	}
	if got, want := hy.String(), "magnet:?xt=urn:btih:"+hexHash+"&xt=urn:btmh:1220"+v2; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, l := range []*Magnet{m, hy} {
		again, err := ParseMagnet(l.String())
		if err != nil || again.InfoHash != l.InfoHash || again.InfoHashV2 != l.InfoHashV2 {
			t.Errorf("round trip of %q: %+v, %v", l, again, err)
		}
	}
}
