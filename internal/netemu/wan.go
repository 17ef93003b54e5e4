package netemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The addresses of the two sides of every WAN; each WAN has namespaces of
// its own, so they never clash.
var (
	AddrA = netip.MustParseAddr("10.77.0.1")
	AddrB = netip.MustParseAddr("10.77.0.2")
)

// tunName is the TUN device's name inside each namespace.
const tunName = "wan0"

// WAN is two network namespaces, A and B, joined by an emulated Link
// between a TUN device in each (wan0, AddrA and AddrB in 10.77.0.0/24).
// Traffic from A to B takes the link's A->B direction.
type WAN struct {
	A, B *Namespace
	Link *Link
}

// nsPrefix starts the name of every namespace a WAN makes; the creator's
// pid follows, so leftovers of a process that died can be told apart.
const nsPrefix = "torfs-wan-"

// NewWAN creates two namespaces with fresh unique names
// (torfs-wan-PID-RANDOM-a and -b) and the link between them. The caller
// must Close it. Namespaces left behind by a WAN whose process died
// without closing it (killed tests) are deleted first.
func NewWAN(ctx context.Context, cfg Config) (*WAN, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	removeOrphans(ctx)
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("name the namespaces: %w", err)
	}
	base := fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), hex.EncodeToString(id[:]))
	w := &WAN{}
	var err error
	if w.A, err = NewNamespace(ctx, base+"-a"); err != nil {
		return nil, err
	}
	if w.B, err = NewNamespace(ctx, base+"-b"); err != nil {
		return nil, errors.Join(err, w.Close())
	}
	ta, err := w.side(ctx, w.A, AddrA)
	if err != nil {
		return nil, errors.Join(err, w.Close())
	}
	tb, err := w.side(ctx, w.B, AddrB)
	if err != nil {
		return nil, errors.Join(err, ta.Close(), w.Close())
	}
	if w.Link, err = NewLink(cfg, ta, tb); err != nil {
		return nil, errors.Join(err, ta.Close(), tb.Close(), w.Close())
	}
	return w, nil
}

// side makes ns's TUN device, addresses it and brings it up.
func (w *WAN) side(ctx context.Context, ns *Namespace, addr netip.Addr) (*os.File, error) {
	var tun *os.File
	err := ns.Do(func() error {
		var err error
		tun, err = openTUN(tunName)
		if err != nil {
			return err
		}
		// No IPv6 on the link: its neighbour discovery would add packets
		// nobody asked for to the counters.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+tunName+"/disable_ipv6", []byte("1"), 0)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"addr", "add", netip.PrefixFrom(addr, 24).String(), "dev", tunName},
		{"link", "set", tunName, "mtu", fmt.Sprint(MTU), "up"},
	} {
		if err := ns.IP(ctx, args...); err != nil {
			return nil, errors.Join(err, tun.Close())
		}
	}
	return tun, nil
}

// Close stops the link and deletes both namespaces.
// Stats read before Close stay valid.
func (w *WAN) Close() error {
	var errs []error
	if w.Link != nil {
		errs = append(errs, w.Link.Close())
	}
	for _, ns := range []*Namespace{w.A, w.B} {
		if ns != nil {
			errs = append(errs, ns.Close())
		}
	}
	return errors.Join(errs...)
}

// removeOrphans deletes the namespaces of WANs whose process is gone.
// They hold nothing (the TUN devices died with their process) but their
// names; failing to delete one is harmless, so errors are ignored.
func removeOrphans(ctx context.Context) {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = ipCmd(ctx, "netns", "del", e.Name())
		}
	}
}
