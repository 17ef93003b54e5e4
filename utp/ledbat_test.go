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
		l.onAck(l.window(), true)
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

func TestLedbatSlowStartEndsAtASmallSteadyQueue(t *testing.T) {
	l := newLedbat(testMSS)
	now := time.Unix(1000, 0)
	l.sample(5000, now)
	l.cwnd = 100 * testMSS
	// A busy machine's delays: one high sample in each batch.
	for i := range 4 * slowStartSamples {
		q := time.Duration(0)
		if i%slowStartSamples == 3 {
			q = 40 * time.Millisecond
		}
		l.sample(5000+uint32(q/time.Microsecond), now)
	}
	l.onAck(testMSS, true)
	if !l.slowStart {
		t.Fatal("slow start ended on single delay spikes")
	}
	// A queue: every sample past slowStartExitDelay for a whole batch
	// (two batches of samples cover one whatever the alignment).
	for range 2 * slowStartSamples {
		l.sample(5000+uint32((slowStartExitDelay+2*time.Millisecond)/time.Microsecond), now)
	}
	w := l.window()
	l.onAck(testMSS, true)
	if l.slowStart || l.window() > w+testMSS {
		t.Fatalf("a steady queuing delay over %v: slow start %v, window %d; want it ended at %d", slowStartExitDelay, l.slowStart, l.window(), w)
	}
	// Not so for a window under slowStartMinWindow packets.
	l = newLedbat(testMSS)
	l.sample(5000, now)
	for range 2 * slowStartSamples {
		l.sample(5000+uint32((slowStartExitDelay+2*time.Millisecond)/time.Microsecond), now)
	}
	l.onAck(testMSS, true)
	if !l.slowStart {
		t.Fatalf("slow start ended at a window of %d bytes, under %d packets", l.window(), slowStartMinWindow)
	}
}

func TestLedbatGrowsOnlyWhenItLimits(t *testing.T) {
	for _, slowStart := range []bool{true, false} {
		l := newLedbat(testMSS)
		now := time.Unix(1000, 0)
		l.sample(5000, now)
		l.cwnd, l.slowStart = 100*testMSS, slowStart
		l.onAck(50*testMSS, false)
		if l.window() != 100*testMSS {
			t.Fatalf("slow start %v: window %d after acks of a sender that did not fill it; want it kept at %d", slowStart, l.window(), 100*testMSS)
		}
	}
	// It still shrinks over the target.
	l := newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), 2*targetDelay)
	l.cwnd, l.slowStart = 100*testMSS, false
	l.onAck(50*testMSS, false)
	if l.window() >= 100*testMSS {
		t.Fatalf("window %d did not shrink at twice the target delay", l.window())
	}
}

func TestLedbatSettlesAtTarget(t *testing.T) {
	l := newLedbat(testMSS)
	l.slowStart = false
	now := time.Unix(1000, 0)
	l.sample(1<<31, now)

	// A small window grows by gainPerRTT a round trip, a big one by
	// growthPerRTT of itself, times how far under the target the delay
	// is (here 4/5).
	feed(&l, &now, len(l.recent), 1<<31, targetDelay/5)
	l.cwnd = 8 * testMSS
	w := l.window()
	feed(&l, &now, 1, 1<<31, targetDelay/5)
	if grown := l.window() - w; grown < gainPerRTT*7/10 || grown > gainPerRTT*9/10 {
		t.Fatalf("a window of 8 packets grew %d bytes in a round trip at a fifth of the target delay; want about %d", grown, gainPerRTT*8/10)
	}
	l.cwnd = 400 * testMSS
	w = l.window()
	feed(&l, &now, 1, 1<<31, targetDelay/5)
	if grown, want := l.window()-w, int(float64(w)*growthPerRTT*8/10); grown < want*9/10 || grown > want*11/10 {
		t.Fatalf("a window of 400 packets grew %d bytes in a round trip at a fifth of the target delay; want about %d", grown, want)
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

// queueAt gives l a base delay and then a current queuing delay of q.
func queueAt(l *ledbat, now time.Time, q time.Duration) {
	const base = 1 << 20
	l.sample(base, now)
	for range len(l.recent) {
		l.sample(base+uint32(q/time.Microsecond), now)
	}
}

func TestLedbatLossAndTimeout(t *testing.T) {
	l := newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), 2*targetDelay)
	l.cwnd = 100 * testMSS
	l.onLoss(testMSS, true)
	if l.window() != 50*testMSS || l.slowStart {
		t.Fatalf("after a loss with the queuing delay at twice the target: window %d slow start %v; want %d, false", l.window(), l.slowStart, 50*testMSS)
	}
	l.onTimeout()
	if l.window() != testMSS {
		t.Fatalf("after a timeout: window %d; want one packet (%d)", l.window(), testMSS)
	}
	for range 20 {
		l.onLoss(testMSS, true)
	}
	if l.window() < testMSS {
		t.Fatalf("window %d fell below one packet", l.window())
	}
}

func TestLedbatRandomLossKeepsWindow(t *testing.T) {
	for _, slowStart := range []bool{false, true} {
		l := newLedbat(testMSS)
		queueAt(&l, time.Unix(1000, 0), targetDelay/10)
		l.cwnd, l.slowStart = 100*testMSS, slowStart
		l.onLoss(testMSS, true)
		if l.window() != 100*testMSS || l.slowStart != slowStart {
			t.Fatalf("an isolated loss at a tenth of the target delay: window %d slow start %v; want %d, %v",
				l.window(), l.slowStart, 100*testMSS, slowStart)
		}
	}
	// At the target too: LEDBAT keeps its queue there, so losses at 0.5%
	// (one packet in 200, a new episode each) are not congestion.
	l := newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), targetDelay)
	l.cwnd, l.slowStart = 100*testMSS, false
	for range 100 {
		l.onAck(199*testMSS, true)
		l.onLoss(testMSS, true)
	}
	if l.window() < 100*testMSS {
		t.Fatalf("0.5%% random loss at the target delay shrank the window from %d to %d", 100*testMSS, l.window())
	}
}

func TestLedbatLossEpisodeHalvesOnce(t *testing.T) {
	l := newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), targetDelay*3/2)
	l.cwnd, l.slowStart = 100*testMSS, false
	l.onLoss(testMSS, true)
	for range 5 {
		l.onLoss(testMSS, false)
	}
	if l.window() != 50*testMSS {
		t.Fatalf("six losses of one episode over the target delay: window %d; want it halved once, %d", l.window(), 50*testMSS)
	}
	l.onLoss(testMSS, true)
	if l.window() != 25*testMSS {
		t.Fatalf("a second episode: window %d; want it halved again, %d", l.window(), 25*testMSS)
	}
}

func TestLedbatHighLossRateHalves(t *testing.T) {
	// A buffer too small to show a queue: the delay stays low but one
	// packet in 20 is lost.
	l := newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), 0)
	l.cwnd, l.slowStart = 100*testMSS, false
	for range 50 {
		l.onAck(19*testMSS, true)
		l.onLoss(testMSS, true)
	}
	if l.window() > 50*testMSS {
		t.Fatalf("5%% loss at no queuing delay left the window at %d; want it halved at least once (<= %d)", l.window(), 50*testMSS)
	}
	// A loss rate over the threshold found in the middle of an episode
	// whose first loss looked random still halves, once.
	l = newLedbat(testMSS)
	queueAt(&l, time.Unix(1000, 0), 0)
	l.cwnd, l.slowStart = 100*testMSS, true
	l.onLoss(testMSS, true)
	if l.window() != 100*testMSS {
		t.Fatalf("first loss of a burst: window %d; want it kept at %d", l.window(), 100*testMSS)
	}
	for range 30 {
		l.onLoss(testMSS, false)
	}
	if l.window() != 50*testMSS || l.slowStart {
		t.Fatalf("a burst of 31 losses in one episode: window %d slow start %v; want %d, false", l.window(), l.slowStart, 50*testMSS)
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
