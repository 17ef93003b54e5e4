package netemu

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"
)

// chanDev is a packet device made of channels: in feeds its Reads, its
// Writes land in out.
type chanDev struct {
	in, out   chan []byte
	closed    chan struct{}
	closeOnce sync.Once
}

func newChanDev() *chanDev {
	return &chanDev{in: make(chan []byte), out: make(chan []byte, 100), closed: make(chan struct{})}
}

func (d *chanDev) Read(b []byte) (int, error) {
	select {
	case p := <-d.in:
		return copy(b, p), nil
	case <-d.closed:
		return 0, os.ErrClosed
	}
}

func (d *chanDev) Write(b []byte) (int, error) {
	d.out <- bytes.Clone(b)
	return len(b), nil
}

func (d *chanDev) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return nil
}

func TestLinkDeliversInOrderBothWays(t *testing.T) {
	const delay = 20 * time.Millisecond
	a, b := newChanDev(), newChanDev()
	l, err := NewLink(Config{Delay: delay}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 50 {
		a.in <- []byte{'a', byte(i)}
		b.in <- []byte{'b', byte(i)}
	}
	timeout := time.After(time.Minute)
	for i := range 50 {
		for _, got := range []chan []byte{b.out, a.out} {
			select {
			case p := <-got:
				if p[1] != byte(i) {
					t.Fatalf("packet %q arrived in place %d", p, i)
				}
			case <-timeout:
				t.Fatalf("packet %d never arrived", i)
			}
		}
	}
	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("100 packets crossed in %v, under the %v delay", elapsed, delay)
	}
	// A packet is counted once its write returns, which can be after the
	// reader above got it: the counts are final once Close has waited
	// for the link's goroutines.
	if err := l.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	ab, ba := l.Stats()
	if ab.Packets != 50 || ba.Packets != 50 || ab.Bytes != 100 {
		t.Errorf("stats A->B %+v, B->A %+v: want 50 packets of 2 bytes each way", ab, ba)
	}
}
