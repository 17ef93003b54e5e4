package utp

import (
	"testing"
	"time"
)

const testMSS = 1380

// feed acks n windows' worth of bytes, one RTT apart on the fake clock,
// with every delay sample base+queue.
func feed(l *ledbat, now *time.Time, rounds int, base uint32, queue time.Duration) {
	for range rounds {
		*now = now.Add(50 * time.Millisecond)
		l.sample(base+uint32(queue/time.Microsecond), *now)
		l.onAck(l.window())
	}
}

func TestLedbatSlowStartDoublesUntilDelay(t *testing.T) {
	l := newLedbat(testMSS)
	now := time.Unix(1000, 0)
	l.sample(5000, now) // the base
	w0 := l.window()
	feed(&l, &now, 3, 5000, 0)
	if got := l.window(); got != 8*w0 {
		t.Fatalf("after 3 round trips of slow start with no queuing delay: window %d, want %d", got, 8*w0)
	}
	// The current delay is the minimum of the last few samples: a single
	// high one does not end slow start, a run of them does.
	feed(&l, &now, len(l.recent), 5000, 95*time.Millisecond)
	if l.slowStart {
		t.Fatal("still in slow start with a queuing delay near the target")
	}
}

func TestLedbatSettlesAtTarget(t *testing.T) {
	l := newLedbat(testMSS)
	l.slowStart = false
	now := time.Unix(1000, 0)
	l.sample(1<<31, now)

	w := l.window()
	feed(&l, &now, 10, 1<<31, 20*time.Millisecond)
	if grown := l.window() - w; grown < 10*gainPerRTT*7/10 || grown > 10*gainPerRTT {
		t.Fatalf("window grew %d bytes in 10 round trips at 20 ms queuing delay; want about %d", grown, 10*gainPerRTT*8/10)
	}
	feed(&l, &now, len(l.recent), 1<<31, targetDelay)
	w = l.window()
	feed(&l, &now, 10, 1<<31, targetDelay)
	if l.window() != w {
		t.Fatalf("window moved from %d to %d at exactly the target delay", w, l.window())
	}
	feed(&l, &now, 10, 1<<31, 2*targetDelay)
	if l.window() >= w {
		t.Fatalf("window %d did not shrink from %d with the queuing delay at twice the target", l.window(), w)
	}
}

func TestLedbatBaseDelayWrapsAndExpires(t *testing.T) {
	l := newLedbat(testMSS)
	now := time.Unix(1000, 0)
	// A peer clock near wrap-around: samples cross 2^32.
	l.sample(0xffffff00, now)
	l.sample(0x00000100, now) // 512 µs later in wrapping terms
	if q := l.queuingDelay(); q > time.Millisecond {
		t.Fatalf("queuing delay %v; want the min of the last samples over the base", q)
	}
	// A lower base seen once is forgotten after the history's span.
	for range len(l.baseHist) + 1 {
		now = now.Add(baseDelayBucket)
		l.sample(0x00010000, now)
	}
	if b, _ := l.base(); b != 0x00010000 {
		t.Fatalf("base delay %#x after the old minimum aged out; want %#x", b, 0x00010000)
	}
}

func TestLedbatLossAndTimeout(t *testing.T) {
	l := newLedbat(testMSS)
	l.cwnd = 100 * testMSS
	l.onLoss()
	if l.window() != 50*testMSS || l.slowStart {
		t.Fatalf("after a loss: window %d slow start %v; want %d, false", l.window(), l.slowStart, 50*testMSS)
	}
	l.onTimeout()
	if l.window() != testMSS {
		t.Fatalf("after a timeout: window %d; want one packet (%d)", l.window(), testMSS)
	}
	for range 20 {
		l.onLoss()
	}
	if l.window() < testMSS {
		t.Fatalf("window %d fell below one packet", l.window())
	}
}

func TestRTOFromMeasuredRTT(t *testing.T) {
	var r rttEstimator
	if r.rto() != initialRTO {
		t.Fatalf("rto before any sample %v; want %v", r.rto(), initialRTO)
	}
	for range 20 {
		r.sample(800 * time.Millisecond)
	}
	if got := r.rto(); got < 800*time.Millisecond || got > 900*time.Millisecond {
		t.Fatalf("rto %v after steady 800 ms round trips; want a little over 800 ms", got)
	}
	r.sample(3 * time.Second)
	if r.rto() < 2*time.Second {
		t.Fatalf("rto %v did not grow after a 3 s round trip", r.rto())
	}
	var fast rttEstimator
	fast.sample(time.Millisecond)
	if fast.rto() != minRTO {
		t.Fatalf("rto %v on loopback; want the floor %v", fast.rto(), minRTO)
	}
}
