package bencbound

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zeebo/bencode"
)

func TestDict(t *testing.T) {
	good := map[string]int{
		"de":                          2,
		"d1:ai-12ee":                  10,
		"d1:ald1:bi0eeee":             15,
		"d3:key5:valueetrailing":      14,
		"d1:a0:e":                     7,
		"d1:ai9223372036854775807ee":  26,
		"d1:ai-9223372036854775808ee": 27,
	}
	for in, want := range good {
		n, err := Dict([]byte(in), 4)
		if err != nil || n != want {
			t.Errorf("Dict(%q) = %d, %v; want %d", in, n, err, want)
		}
	}
	bad := map[string]string{
		"":                                "not a bencoded dictionary",
		"l1:ae":                           "not a bencoded dictionary",
		"d1:a":                            "truncated",
		"d4:info2147483647:abc":           "claims 2147483647 bytes",
		"d1:v2000000000:abce":             "claims 2000000000 bytes",
		"d4:info12345678901234567890:abc": "string length too long",
		"d4:info9:abce":                   "claims 9 bytes but only 4 remain",
		"d1:ai1x2ee":                      "malformed integer",
		"d1:aie":                          "malformed integer",
		"d1:ai-e":                         "malformed integer",
		"d1:ai12345678901234567890ee":     "malformed integer",
		"d1:ai9223372036854775808ee":      "malformed integer",
		"d1:ai-9223372036854775809ee":     "malformed integer",
		"d1:a" + strings.Repeat("l", 10) + strings.Repeat("e", 11): "nested deeper than 4",
		"d1:ax":       "unexpected byte",
		"d1a":         "malformed string length",
		"di1ei2ee":    "key at byte 1 is not a string",
		"dlee":        "key at byte 1 is not a string",
		"d1:ae":       "has no value",
		"d1:ai1e1:be": "has no value",
	}
	for in, want := range bad {
		_, err := Dict([]byte(in), 4)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dict(%q) error = %v, want one containing %q", in, err, want)
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Dict(%q) error %v does not wrap ErrMalformed", in, err)
		}
	}
}

func TestExact(t *testing.T) {
	if err := Exact([]byte("d1:ai1ee"), 2); err != nil {
		t.Errorf("Exact of a whole dictionary: %v", err)
	}
	if err := Exact([]byte("d1:ai1eexx"), 2); err == nil || !strings.Contains(err.Error(), "2 bytes of garbage") {
		t.Errorf("Exact with trailing bytes: %v", err)
	}
}

func TestDecode(t *testing.T) {
	var s struct {
		V string         `bencode:"v"`
		M map[string]int `bencode:"m"`
		L []string       `bencode:"l"`
	}
	if err := Decode([]byte("d1:ll1:x1:ye1:md1:ai1ee1:v3:abce"), &s); err != nil {
		t.Fatal(err)
	}
	if s.V != "abc" || s.M["a"] != 1 || len(s.L) != 2 || s.L[1] != "y" {
		t.Errorf("decoded %+v", s)
	}
	// Any value may be decoded, not only dictionaries.
	var n int64
	if err := Decode([]byte("i-42e"), &n); err != nil || n != -42 {
		t.Errorf("Decode(i-42e) = %d, %v", n, err)
	}
	var str string
	if err := Decode([]byte("3:abc"), &str); err != nil || str != "abc" {
		t.Errorf("Decode(3:abc) = %q, %v", str, err)
	}

	bad := map[string]string{
		"":                      "empty input",
		"d1:v2000000000:abce":   "claims 2000000000 bytes",
		"d2000010000:":          "claims 2000010000 bytes",
		"d1:v3:abcexx":          "2 bytes of garbage after its end",
		"d1:vi1ee":              "Cannot store int64 into string",
		"d1:mlee":               "Cant store a []interface{} into map",
		strings.Repeat("l", 40): "nested deeper than 32",
	}
	for in, want := range bad {
		s.V, s.M, s.L = "", nil, nil
		err := Decode([]byte(in), &s)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) error = %v, want ErrMalformed containing %q", in, err, want)
		}
	}
}

func TestDecoderMaxDepth(t *testing.T) {
	in := []byte(strings.Repeat("l", 50) + strings.Repeat("e", 50))
	var v any
	if err := (&Decoder{MaxDepth: 49}).Decode(in, &v); err == nil {
		t.Error("50 levels decoded with MaxDepth 49")
	}
	d := Decoder{MaxDepth: 50}
	for range 2 { // the second call reuses the read buffer
		if err := d.Decode(in, &v); err != nil {
			t.Errorf("50 levels with MaxDepth 50: %v", err)
		}
	}
	deep := []byte(strings.Repeat("l", MaxDepth+1) + strings.Repeat("e", MaxDepth+1))
	if err := (&Decoder{MaxDepth: 1 << 20}).Decode(deep, &v); err == nil {
		t.Errorf("%d levels decoded: MaxDepth is not a ceiling", MaxDepth+1)
	}
}

func TestDecodeDict(t *testing.T) {
	var m struct {
		Type  int `bencode:"msg_type"`
		Piece int `bencode:"piece"`
	}
	in := []byte("d8:msg_typei1e5:piecei3eePIECE-BYTES")
	n, err := DecodeDict(in, &m)
	if err != nil || m.Type != 1 || m.Piece != 3 || string(in[n:]) != "PIECE-BYTES" {
		t.Errorf("DecodeDict = %d, %+v, %v", n, m, err)
	}
	for _, in := range []string{"", "i1e", "l1:ae", "d1:ai1e"} {
		if _, err := DecodeDict([]byte(in), &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeDict(%q) error = %v, want ErrMalformed", in, err)
		}
	}
	if _, err := DecodeDict([]byte("3:abc"), &m); !errors.Is(err, ErrNotDict) {
		t.Errorf("DecodeDict of a string: %v, want ErrNotDict", err)
	}
}

// TestPanicIsError feeds the codec a target it panics on: the panic must
// come back as an ErrMalformed error.
func TestPanicIsError(t *testing.T) {
	var a [2]int // the codec grows lists with reflect.Value.Set, which panics on arrays
	err := Decode([]byte("li1ei2ei3ei4ei5ee"), &a)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("Decode into an array: %v, want ErrMalformed", err)
	}
	if !strings.Contains(fmt.Sprint(err), "the decoder failed") {
		t.Errorf("Decode into an array: %v; the codec did not panic, so this test tests nothing", err)
	}
	var raw bencode.RawMessage
	if err := Decode([]byte("d1:ai1ee"), &raw); err != nil || string(raw) != "d1:ai1ee" {
		t.Errorf("Decode into a RawMessage = %q, %v", raw, err)
	}
}

func TestCanonical(t *testing.T) {
	for _, in := range []string{"de", "d1:ai1e1:bi-3ee", "li0ei10e0:e", "d1:ad1:ai0e1:bd0:leeee", "d0:i1e1:alee"} {
		if err := Canonical([]byte(in), 8); err != nil {
			t.Errorf("Canonical(%q) = %v, want nil", in, err)
		}
	}
	bad := map[string]string{
		"d1:bi1e1:ai2ee":      "not after the key before it",
		"d1:ai1e1:ai2ee":      "not after the key before it",
		"d1:ad1:bi0e1:ai0eee": "not after the key before it",
		"li07ee":              "leading zero in the integer",
		"li-0ee":              "negative zero",
		"l01:ae":              "leading zero in the string length",
		"d1:ai1eex":           "garbage",
		"d1:a":                "truncated",
	}
	for in, want := range bad {
		err := Canonical([]byte(in), 8)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Canonical(%q) = %v, want an ErrMalformed containing %q", in, err, want)
		}
	}
	// A key at the same depth in a sibling dictionary is not compared.
	if err := Canonical([]byte("ld1:bi1eed1:ai1eee"), 8); err != nil {
		t.Errorf("sibling dictionaries: %v", err)
	}
}
