package bencbound

import (
	"strings"
	"testing"
)

func TestDict(t *testing.T) {
	good := map[string]int{
		"de":                     2,
		"d1:ai-12ee":             10,
		"d1:ald1:bi0eeee":        15,
		"d3:key5:valueetrailing": 14,
		"d1:a0:e":                7,
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
		"d4:info12345678901234567890:abc": "string length too long",
		"d4:info9:abce":                   "claims 9 bytes but only 4 remain",
		"d1:ai1x2ee":                      "malformed integer",
		"d1:aie":                          "malformed integer",
		"d1:ai12345678901234567890ee":     "malformed integer",
		"d1:a" + strings.Repeat("l", 10) + strings.Repeat("e", 11): "nested deeper than 4",
		"d1:ax": "unexpected byte",
		"d1a":   "malformed string length",
	}
	for in, want := range bad {
		if _, err := Dict([]byte(in), 4); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Dict(%q) error = %v, want one containing %q", in, err, want)
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
