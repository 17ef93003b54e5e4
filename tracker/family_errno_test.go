package tracker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestFamilyErrorOnlyWhenEveryAddressLacksARoute: a dial that failed for
// want of a route to the family is ErrFamilyUnreachable, also when it
// failed so at each of the host's addresses; when one address failed
// otherwise (refused, timed out), the tracker failed, not the family.
func TestFamilyErrorOnlyWhenEveryAddressLacksARoute(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	wrap := func(err error) error { return fmt.Errorf("announce: %w", err) }
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no route", wrap(dial(syscall.ENETUNREACH)), true},
		{"no route at either address", wrap(errors.Join(dial(syscall.ENETUNREACH), dial(syscall.EADDRNOTAVAIL))), true},
		{"no route at one, refused at the other", wrap(errors.Join(dial(syscall.ENETUNREACH), dial(syscall.ECONNREFUSED))), false},
		{"refused at one, no route at the other", errors.Join(dial(syscall.ECONNREFUSED), dial(syscall.ENETUNREACH)), false},
		{"refused", dial(syscall.ECONNREFUSED), false},
	} {
		err := familyError(IPv6, c.err)
		if got := errors.Is(err, ErrFamilyUnreachable); got != c.want {
			t.Errorf("%s: %v is ErrFamilyUnreachable: %v, want %v", c.name, err, got, c.want)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("%s: %v no longer wraps %v", c.name, err, c.err)
		}
	}
	if err := familyError(AnyFamily, dial(syscall.ENETUNREACH)); errors.Is(err, ErrFamilyUnreachable) {
		t.Errorf("an announce over any family: %v", err)
	}
}
