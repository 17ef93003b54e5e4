package main

import "testing"

// TestPortMapperOnlyOffLoopback: port mapping is off for a loopback
// --listen (every test's), and with --no-port-map. The mappers returned
// are never started here: that would look for a router.
func TestPortMapperOnlyOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		listen string
		off    bool
		want   bool
	}{
		{":0", false, true},
		{":6881", true, false},
		{"0.0.0.0:6881", false, true},
		{"192.0.2.7:6881", false, true},
		{"127.0.0.1:0", false, false},
		{"127.0.0.2:0", false, false},
		{"[::1]:0", false, false},
		{"localhost:0", false, false},
	} {
		if got := portMapper(tc.listen, tc.off, true, nil) != nil; got != tc.want {
			t.Errorf("--listen %s (--no-port-map %v): mapping %v, want %v", tc.listen, tc.off, got, tc.want)
		}
	}
}
