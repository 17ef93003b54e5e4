package testutil

import (
	"context"
	"net"
	"testing"
	"time"
)

// ServeTracker runs serve (a tracker server's ListenAndServe) on loopback
// HTTP and UDP until the test ends and returns its announce URLs. It takes
// the method rather than the server so that the server's own tests can use
// it without an import cycle.
func ServeTracker(tb testing.TB, serve func(ctx context.Context, httpAddr, udpAddr string, ready func(httpAddr, udpAddr net.Addr)) error) (httpURL, udpURL string) {
	tb.Helper()
	return ServeTrackerOn(tb, serve, "127.0.0.1:0", "127.0.0.1:0")
}

// ServeTrackerOn is ServeTracker on the given addresses ("[::1]:0" for
// IPv6 loopback).
func ServeTrackerOn(tb testing.TB, serve func(ctx context.Context, httpAddr, udpAddr string, ready func(httpAddr, udpAddr net.Addr)) error, httpAddr, udpAddr string) (httpURL, udpURL string) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan [2]net.Addr, 1)
	go func() {
		done <- serve(ctx, httpAddr, udpAddr, func(h, u net.Addr) { ready <- [2]net.Addr{h, u} })
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case a := <-ready:
		return "http://" + a[0].String() + "/announce", "udp://" + a[1].String() + "/announce"
	case err := <-done:
		tb.Fatal(err)
	case <-time.After(10 * time.Second):
		tb.Fatal("tracker did not start")
	}
	return "", ""
}
