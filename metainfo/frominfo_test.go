package metainfo

import (
	"bytes"
	"crypto/sha1"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

func TestFromInfoMatchesParse(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "libtorrent", "*.torrent"))
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Parse(data)
		if err != nil {
			continue // the invalid ones are for Parse's own tests
		}
		n++
		m := want.Magnet()
		m.Trackers, m.WebSeeds = []string{"http://a/announce", "udp://b:1"}, []string{"http://w/"}
		got, err := FromInfo(want.InfoBytes, m)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !reflect.DeepEqual(got.Info, want.Info) {
			t.Errorf("%s: info differs from the .torrent's", p)
		}
		if got.InfoHash != want.InfoHash || got.InfoHashV2 != want.InfoHashV2 {
			t.Errorf("%s: info-hashes %s %s, the .torrent's %s %s", p, got.InfoHash, got.InfoHashV2, want.InfoHash, want.InfoHashV2)
		}
		if !reflect.DeepEqual(got.Trackers(), [][]string{{"http://a/announce"}, {"udp://b:1"}}) {
			t.Errorf("%s: trackers %v", p, got.Trackers())
		}
		if !reflect.DeepEqual(got.URLList, []string{"http://w/"}) {
			t.Errorf("%s: url-list %v", p, got.URLList)
		}
		enc, err := got.Encode()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(enc)
		if err != nil || again.InfoHash != want.InfoHash || again.InfoHashV2 != want.InfoHashV2 {
			t.Fatalf("%s: the written .torrent does not parse back to the same info-hash: %v", p, err)
		}
	}
	if n == 0 {
		t.Fatal("no valid torrent in testdata/libtorrent")
	}
}

func TestFromInfoRejects(t *testing.T) {
	good := []byte("d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae")
	for _, tc := range []struct {
		name string
		info []byte
		hash []byte // nil = the info's own hash
		want string
	}{
		{"wrong hash", good, good[1:], "hashes to"},
		{"trailing bytes", append(append([]byte(nil), good...), 'x'), nil, "after its end"},
		{"not a dict", []byte("i1e"), nil, "not a bencoded dictionary"},
		{"no pieces", []byte("d6:lengthi1e4:name1:a12:piece lengthi16384ee"), nil, "pieces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.hash
			if src == nil {
				src = tc.info
			}
			m := &Magnet{InfoHash: sha1.Sum(src)}
			_, err := FromInfo(tc.info, m)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	m := &Magnet{InfoHash: sha1.Sum(good)}
	mi, err := FromInfo(good, m)
	if err != nil || mi.Info.Name != "a" || mi.Info.Length != 1 {
		t.Fatalf("FromInfo(good) = %+v, %v", mi, err)
	}
}

func FuzzFromInfo(f *testing.F) {
	f.Add([]byte("d6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"))
	f.Add([]byte("d5:filesld6:lengthi1e4:pathl1:a1:beee4:name1:x12:piece lengthi1e6:pieces20:aaaaaaaaaaaaaaaaaaaae"))
	f.Add([]byte("d4:name2147483647:"))
	f.Add([]byte("d2000010000:"))
	for _, s := range hostileTorrents(300) {
		if i := strings.Index(s, "4:infod"); i >= 0 {
			f.Add([]byte(s[i+len("4:info") : len(s)-1]))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &Magnet{InfoHash: sha1.Sum(data)}
		allocbound.Check(t, torrentLimit, "building a torrent from an info dictionary", data, func() { FromInfo(data, m) })
		mi, err := FromInfo(data, &Magnet{InfoHash: sha1.Sum(data)})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		checkSafe(t, mi)
		if _, err := mi.Encode(); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	})
}

func TestMagnetMatchesV2(t *testing.T) {
	mi, err := Load(filepath.Join("testdata", "libtorrent", "v2_multipiece_file.torrent")) // a hybrid
	if err != nil {
		t.Fatal(err)
	}
	both := mi.Magnet()
	v1 := &Magnet{InfoHash: mi.InfoHash}
	v2 := &Magnet{InfoHash: mi.InfoHashV2.Truncated(), InfoHashV2: mi.InfoHashV2}
	other := bytes.Replace(mi.InfoBytes, []byte("test1MB"), []byte("test1MC"), 1)
	for _, m := range []*Magnet{both, v1, v2} {
		if !m.Matches(mi.InfoBytes) || m.Matches(other) || !m.Names(mi) {
			t.Errorf("%s: Matches %v, Matches(other) %v, Names %v", m, m.Matches(mi.InfoBytes), m.Matches(other), m.Names(mi))
		}
		got, err := FromInfo(mi.InfoBytes, m)
		if err != nil || got.InfoHash != mi.InfoHash || got.InfoHashV2 != mi.InfoHashV2 {
			t.Errorf("%s: FromInfo: %v", m, err)
		}
		if _, err := FromInfo(other, m); err == nil {
			t.Errorf("%s: FromInfo of other bytes", m)
		}
	}
	if v2.HasV1() || v1.HasV2() || !both.HasV1() || !both.HasV2() {
		t.Error("HasV1/HasV2")
	}
}
