package main

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "262144": 262144, "256KiB": 256 << 10, "256k": 256 << 10,
		"1MiB": 1 << 20, "1 MiB": 1 << 20, "2GB": 2e9, "1.5G": 3 << 29, "16MiB": 16 << 20,
	}
	for in, want := range good {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1XB", "1e3", "99999999999999999999", "9999999TiB"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, n)
		}
	}
}
