package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/torfs/torfs/mount"
)

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

// TestPrintStatusSaysPortMapping: torfs status prints the mapping when
// the mount has one, and nothing about it when it is off.
func TestPrintStatusSaysPortMapping(t *testing.T) {
	st := mount.Status{Listen: "0.0.0.0:6881", PortMapping: "mapped by NAT-PMP at 192.168.1.1: 203.0.113.7:6881 (TCP, UDP)"}
	var out bytes.Buffer
	printStatus(&out, st, false)
	if !strings.Contains(out.String(), "port mapping: mapped by NAT-PMP at 192.168.1.1: 203.0.113.7:6881 (TCP, UDP)\n") {
		t.Errorf("status does not show the mapping:\n%s", out.String())
	}
	out.Reset()
	st.PortMapping = ""
	printStatus(&out, st, false)
	if strings.Contains(out.String(), "port mapping") {
		t.Errorf("status speaks of a port mapping that is off:\n%s", out.String())
	}
}
