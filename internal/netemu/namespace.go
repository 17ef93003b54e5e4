package netemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Namespace is a named network namespace (ip netns) with one OS thread of
// this process parked inside it, on which Do runs functions: sockets they
// open and processes they start live in the namespace.
type Namespace struct {
	Name string

	calls     chan nsCall
	quit      chan struct{} // closed by Close
	done      chan struct{} // closed when the thread has left
	closeOnce sync.Once
	closeErr  error
	leaveErr  error // set by serve before done is closed
}

type nsCall struct {
	fn    func() error
	reply chan error
}

// NewNamespace creates the network namespace name (it must not exist)
// with its loopback device up.
func NewNamespace(ctx context.Context, name string) (*Namespace, error) {
	if err := ipCmd(ctx, "netns", "add", name); err != nil {
		return nil, err
	}
	ns := &Namespace{Name: name, calls: make(chan nsCall), quit: make(chan struct{}), done: make(chan struct{})}
	started := make(chan error, 1)
	go ns.serve(started)
	if err := <-started; err != nil {
		_ = ipCmd(context.Background(), "netns", "del", name)
		return nil, err
	}
	if err := ns.IP(ctx, "link", "set", "lo", "up"); err != nil {
		_ = ns.Close()
		return nil, err
	}
	return ns, nil
}

// serve runs on a thread locked into the namespace and runs Do's
// functions there. At Close it moves the thread back to the namespace it
// came from and unlocks it, so that the thread lives on: Go ends a thread
// whose goroutine returns locked, and a process started with Pdeathsig
// (the harness sets it) is killed when the thread that started it ends,
// even when that thread only ran a test's goroutine before serve locked
// it. Processes started by Do's functions are left to their starters to
// stop. If the thread cannot go back, it returns locked and Go ends it
// rather than hand it, still inside the namespace, to other goroutines.
func (ns *Namespace) serve(started chan<- error) {
	defer close(ns.done)
	runtime.LockOSThread()
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		started <- fmt.Errorf("open this thread's network namespace: %w", err)
		return
	}
	defer home.Close()
	f, err := os.Open("/run/netns/" + ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		started <- fmt.Errorf("open network namespace %s: %w", ns.Name, err)
		return
	}
	err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
	f.Close()
	if err != nil {
		runtime.UnlockOSThread()
		started <- fmt.Errorf("enter network namespace %s: %w", ns.Name, err)
		return
	}
	started <- nil
	for {
		select {
		case c := <-ns.calls:
			c.reply <- c.fn()
		case <-ns.quit:
			if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
				ns.leaveErr = fmt.Errorf("leave network namespace %s: %w", ns.Name, err)
			} else {
				runtime.UnlockOSThread()
			}
			return
		}
	}
}

// Do runs fn inside the namespace and returns its error. fn runs on the
// namespace's own thread: sockets it opens (net.Listen, net.Dial to an IP
// literal) and processes it starts belong to the namespace, but
// goroutines it starts do not. Calls run one at a time.
func (ns *Namespace) Do(fn func() error) error {
	reply := make(chan error, 1)
	select {
	case ns.calls <- nsCall{fn: fn, reply: reply}:
	case <-ns.done:
		return fmt.Errorf("network namespace %s is closed", ns.Name)
	}
	return <-reply
}

// Command is a command that runs name with args inside the namespace,
// through ip netns exec.
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// IP runs the ip command with args inside the namespace (ip -n NAME ...).
func (ns *Namespace) IP(ctx context.Context, args ...string) error {
	return ipCmd(ctx, append([]string{"-n", ns.Name}, args...)...)
}

// Close takes the namespace's thread out of it and deletes the
// namespace. It may be called more than once.
func (ns *Namespace) Close() error {
	ns.closeOnce.Do(func() {
		close(ns.quit)
		<-ns.done
		ns.closeErr = errors.Join(ns.leaveErr, ipCmd(context.Background(), "netns", "del", ns.Name))
	})
	return ns.closeErr
}

func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if errors.Is(err, exec.ErrNotFound) {
			msg = "install iproute2"
		}
		if strings.Contains(msg, "Operation not permitted") {
			// A container without CAP_SYS_ADMIN, say: callers may skip.
			err = fmt.Errorf("%w (%w)", err, os.ErrPermission)
		}
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	return nil
}
