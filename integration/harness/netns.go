package harness

import (
	"context"
	"os"
	"testing"
)

// Netns is a network namespace that runs functions inside itself, such as
// a side of an emulated WAN (netemu.Namespace, made for tests by
// netemutest.New). Sockets opened and processes started by fn belong to
// the namespace.
type Netns interface {
	Do(fn func() error) error
}

// StartLibtorrentIn is StartLibtorrent inside ns: the peer listens and
// dials from there, so opts.Listen must be an address of ns (its side of
// the WAN, or 0.0.0.0:0), not the 127.0.0.1 default, for peers outside
// to reach it.
func StartLibtorrentIn(tb testing.TB, ns Netns, opts LibtorrentOptions) *Libtorrent {
	tb.Helper()
	Require(tb, "python3-libtorrent")
	if opts.Save == "" {
		opts.Save = tb.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var lt *Libtorrent
	err := ns.Do(func() error {
		var err error
		lt, err = LaunchLibtorrent(ctx, opts)
		return err
	})
	if err != nil {
		tb.Fatalf("start libtorrent %s in a network namespace: %v", opts.Mode, err)
	}
	cleanupProcess(tb, lt.proc)
	tb.Cleanup(func() {
		_ = os.RemoveAll(lt.dir)
		lt.mu.Lock()
		defer lt.mu.Unlock()
		if len(lt.badLines) > 0 {
			tb.Errorf("harness bug: lt.py and lt.go disagree: %q", lt.badLines)
		}
	})
	return lt
}

// InNetns is c run inside the named network namespace, through
// ip netns exec.
func InNetns(name string, c Command) Command {
	if c.Name == "" {
		c.Name = c.spec().name + " (in " + name + ")"
	}
	c.Args = append([]string{"netns", "exec", name, c.Path}, c.Args...)
	c.Path = "ip"
	return c
}
