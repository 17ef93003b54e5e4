// Package netemutest gives tests an emulated WAN (netemu.WAN): two
// network namespaces joined by a link with delay, loss, a rate limit and a
// bounded queue, removed when the test ends.
package netemutest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/torfs/torfs/internal/netemu"
)

// New creates a WAN with cfg for tb and closes it in tb's cleanup, logging
// the link's counters. It skips the test, saying why, where the machine
// cannot make namespaces or TUN devices (not root, no /dev/net/tun, or
// root without the capability, as in some containers); as root it runs,
// and any other failure to set up (no ip command, say) fails it.
func New(tb testing.TB, cfg netemu.Config) *netemu.WAN {
	tb.Helper()
	if why := unavailable(); why != "" {
		tb.Skipf("emulated WAN unavailable: %s", why)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Fatalf("the emulated WAN needs the ip command (%v): install test dependencies: bash scripts/deps.sh", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := netemu.NewWAN(ctx, cfg)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			tb.Skipf("emulated WAN unavailable: %v", err)
		}
		tb.Fatalf("set up the emulated WAN: %v", err)
	}
	tb.Cleanup(func() {
		ab, ba := w.Link.Stats()
		tb.Logf("link %s: A->B %+v; B->A %+v", cfg, ab, ba)
		if err := w.Close(); err != nil {
			tb.Errorf("close the emulated WAN: %v", err)
		}
	})
	return w
}

// unavailable says why this machine cannot run an emulated WAN, or "".
func unavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces and TUN devices need root; run the tests as root (CI does)"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "no TUN support: " + err.Error()
	}
	return ""
}
