package bencbound

import (
	"fmt"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
	"github.com/zeebo/bencode"
)

// bombs are inputs that claim far more than they hold; every fuzz target
// of a bencode decoder should have them in its seed corpus.
var bombs = []string{
	"d1:v2000000000:abce",
	"d2000010000:",
	"d4:info2147483647:abc",
	"l99999999999999999999:",
	"i99999999999999999999e",
}

// FuzzDict checks that Dict and Canonical never panic, that what it accepts is a
// closed dictionary within the input that it accepts again on its own,
// and that the codec decodes whatever walk accepts.
func FuzzDict(f *testing.F) {
	for _, s := range append([]string{"de", "d1:ai1ee", "d1:ald1:bi-3eeee", "d4:info2:abe", "d1:a5:xe"}, bombs...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if n, err := walk(data, 16); err == nil {
			var v any
			if err := bencode.DecodeBytes(data[:n], &v); err != nil {
				t.Fatalf("walk accepted %q but the codec says %v", data[:n], err)
			}
		}
		if err := Canonical(data, 16); err == nil {
			if _, err := walk(data, 16); err != nil {
				t.Fatalf("Canonical accepted %q, which walk refuses: %v", data, err)
			}
		}
		n, err := Dict(data, 16)
		if err != nil {
			return
		}
		if n < 2 || n > len(data) || data[n-1] != 'e' {
			t.Fatalf("Dict(%q) = %d", data, n)
		}
		if err := Exact(data[:n], 16); err != nil {
			t.Fatalf("Exact(%q) = %v after Dict accepted it", data[:n], err)
		}
		if _, err := Dict(data[:n-1], 16); err == nil {
			t.Fatalf("Dict accepted %q with its last byte cut off", data[:n-1])
		}
	})
}

// Shapes of what torfs decodes (wire, dht, tracker, metainfo), copied here
// so that the bound is checked against the codec's real costs: a struct
// costs the codec a map of its fields per dictionary decoded into it.
type (
	fuzzHandshake struct {
		M            map[string]int `bencode:"m"`
		V            string         `bencode:"v"`
		P            int            `bencode:"p"`
		YourIP       string         `bencode:"yourip"`
		MetadataSize int            `bencode:"metadata_size"`
	}
	fuzzKRPC struct {
		T string `bencode:"t"`
		Y string `bencode:"y"`
		A *struct {
			ID   string   `bencode:"id"`
			Port int64    `bencode:"port"`
			Want []string `bencode:"want"`
		} `bencode:"a"`
		R *struct {
			ID     string   `bencode:"id"`
			Nodes  string   `bencode:"nodes"`
			Values []string `bencode:"values"`
		} `bencode:"r"`
		E bencode.RawMessage `bencode:"e"`
	}
	fuzzAnnounce struct {
		Interval int64 `bencode:"interval"`
		Peers    []struct {
			IP   string `bencode:"ip"`
			Port int64  `bencode:"port"`
		} `bencode:"peers"`
		Peers6 []byte `bencode:"peers6"`
	}
	fuzzFiles struct {
		Files []struct {
			Length      *int64    `bencode:"length"`
			Path        *[]string `bencode:"path"`
			PathUTF8    *[]string `bencode:"path.utf-8"`
			Attr        string    `bencode:"attr"`
			SymlinkPath *[]string `bencode:"symlink path"`
		} `bencode:"files"`
		Name bencode.RawMessage `bencode:"name"`
	}
	fuzzRaw struct {
		Info     bencode.RawMessage `bencode:"info"`
		Announce bencode.RawMessage `bencode:"announce"`
		List     bencode.RawMessage `bencode:"announce-list"`
	}
)

var fuzzTargets = []func() any{
	func() any { return new(any) },
	func() any { return new(map[string]any) },
	func() any { return new([]bencode.RawMessage) },
	func() any { return new(map[string]bencode.RawMessage) },
	func() any { return new(fuzzHandshake) },
	func() any { return new(fuzzKRPC) },
	func() any { return new(fuzzAnnounce) },
	func() any { return new(fuzzFiles) },
	func() any { return new(fuzzRaw) },
}

// Decoding n bytes may allocate at most 128n + 16 KiB. The worst measured
// is 107 bytes per byte (TestDecodeAllocs logs it): a list of empty
// dictionaries ("ldededede...") decoded into a list of structs, which
// costs the codec a map of the struct's fields per dictionary. The
// constant covers the 4 KiB read buffer and the codec's fixed costs.
var decodeLimit = allocbound.Limit{PerByte: 128, Const: 16 << 10}

// FuzzDecodeAllocs checks that no input makes Decode allocate more than a
// small multiple of its size, whatever it is decoded into.
func FuzzDecodeAllocs(f *testing.F) {
	seeds := append([]string{
		"d1:md11:ut_metadatai2ee1:pi6881e1:v5:torfse",
		"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa4:wantl2:n42:n6ee1:q9:get_peers1:t2:aa1:y1:qe",
		"d8:intervali1800e5:peersld2:ip9:127.0.0.14:porti6881eeee",
		"d5:filesld6:lengthi1e4:pathl1:aeedee4:name1:xe",
		"l" + strings.Repeat("de", 500) + "e",
		"l" + strings.Repeat("le", 500) + "e",
		"d5:filesl" + strings.Repeat("de", 500) + "ee",
		"d5:peersl" + strings.Repeat("de", 500) + "ee",
	}, bombs...)
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, target uint8) {
		newV := fuzzTargets[int(target)%len(fuzzTargets)]
		allocbound.Check(t, decodeLimit, fmt.Sprintf("decoding into %T", newV()), data, func() {
			var d Decoder
			d.Decode(data, newV())
		})
	})
}

// TestDecodeAllocs runs the shapes that cost the codec most per input
// byte, large enough that the constant does not hide the multiple, into
// every target of FuzzDecodeAllocs.
func TestDecodeAllocs(t *testing.T) {
	const n = 5000
	shapes := map[string]string{
		"empty dicts":       "l" + strings.Repeat("de", n) + "e",
		"empty lists":       "l" + strings.Repeat("le", n) + "e",
		"dicts of dicts":    "l" + strings.Repeat("d0:dee", n) + "e",
		"empty strings":     "l" + strings.Repeat("0:", n) + "e",
		"integers":          "l" + strings.Repeat("i1000e", n) + "e",
		"keys":              "d" + strings.Repeat("1:ade", n) + "e",
		"file entries":      "d5:filesl" + strings.Repeat("de", n) + "ee",
		"file paths":        "d5:filesl" + strings.Repeat("d4:pathlee", n) + "ee",
		"peer dictionaries": "d5:peersl" + strings.Repeat("de", n) + "ee",
		"values":            "d1:rd6:valuesl" + strings.Repeat("0:", n) + "eee",
	}
	worst := 0.0
	for name, in := range shapes {
		b := []byte(in)
		for _, newV := range fuzzTargets {
			got := allocbound.Check(t, decodeLimit, fmt.Sprintf("%s into %T", name, newV()), b, func() {
				var d Decoder
				d.Decode(b, newV())
			})
			worst = max(worst, allocbound.Ratio(got, len(b)))
		}
	}
	t.Logf("worst: %.1f bytes allocated per input byte (limit %d)", worst, decodeLimit.PerByte)
}
