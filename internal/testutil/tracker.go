package testutil

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// ServeFunc is a tracker server's ListenAndServe.
type ServeFunc func(ctx context.Context, httpAddr, udpAddr string, ready func(httpAddr, udpAddr net.Addr)) error

// ServeTracker runs serve (a tracker server's ListenAndServe) on loopback
// HTTP and UDP until the test ends and returns its announce URLs. It takes
// the method rather than the server so that the server's own tests can use
// it without an import cycle.
func ServeTracker(tb testing.TB, serve ServeFunc) (httpURL, udpURL string) {
	tb.Helper()
	return ServeTrackerOn(tb, serve, "127.0.0.1:0", "127.0.0.1:0")
}

// ServeTrackerOn is ServeTracker on the given addresses ("[::1]:0" for
// IPv6 loopback).
func ServeTrackerOn(tb testing.TB, serve ServeFunc, httpAddr, udpAddr string) (httpURL, udpURL string) {
	tb.Helper()
	h, u, stop, err := startTracker(serve, httpAddr, udpAddr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return "http://" + h.String() + "/announce", "udp://" + u.String() + "/announce"
}

// ServeTrackerDual runs serve4 on 127.0.0.1 and serve6 on [::1], on the
// same HTTP port and the same UDP port, until the test ends: what a
// tracker whose name has an IPv4 and an IPv6 address looks like, each
// family with a swarm of its own. It returns the two ports.
func ServeTrackerDual(tb testing.TB, serve4, serve6 ServeFunc) (httpPort, udpPort int) {
	tb.Helper()
	var last error
	for range 10 {
		h, u, stop4, err := startTracker(serve4, "127.0.0.1:0", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		hp, up := h.(*net.TCPAddr).Port, u.(*net.UDPAddr).Port
		_, _, stop6, err := startTracker(serve6, net.JoinHostPort("::1", strconv.Itoa(hp)), net.JoinHostPort("::1", strconv.Itoa(up)))
		if err != nil {
			// The ports are taken on ::1: try others.
			stop4()
			last = err
			continue
		}
		tb.Cleanup(func() { stop6(); stop4() })
		return hp, up
	}
	tb.Fatalf("no port pair free on both 127.0.0.1 and ::1: %v", last)
	return 0, 0
}

// startTracker runs serve until stop, once it listens.
func startTracker(serve ServeFunc, httpAddr, udpAddr string) (h, u net.Addr, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan [2]net.Addr, 1)
	go func() {
		done <- serve(ctx, httpAddr, udpAddr, func(h, u net.Addr) { ready <- [2]net.Addr{h, u} })
	}()
	stop = func() {
		cancel()
		<-done
	}
	select {
	case a := <-ready:
		return a[0], a[1], stop, nil
	case err := <-done:
		cancel()
		if err == nil {
			err = errors.New("the tracker stopped before it listened")
		}
		return nil, nil, nil, err
	case <-time.After(10 * time.Second):
		stop()
		return nil, nil, nil, errors.New("tracker did not start")
	}
}
