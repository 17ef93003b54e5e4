package utp

import "time"

// LEDBAT parameters (BEP 29, RFC 6817), close to libutp's.
const (
	// targetDelay is the queuing delay LEDBAT aims to add at the
	// bottleneck: RFC 6817's maximum and libutp's value. 60 ms (LEDBAT++'s)
	// was tried: on a busy machine a connection over loopback then took
	// the scheduler's delays for a queue and slowed down (one noisy
	// comparison: median 231 MB/s of 10 runs against 488 of 4), and over
	// the emulated WAN neither target was reached.
	targetDelay = 100 * time.Millisecond
	// gainPerRTT is the most the window grows in one round trip when the
	// queuing delay is zero.
	gainPerRTT = 3000
	// growthPerRTT is the most the window grows in one round trip, as a
	// fraction of itself, when that is more than gainPerRTT and the
	// queuing delay is zero; it tapers to nothing at targetDelay.
	// gainPerRTT alone, two packets a round trip, took a window cut
	// to a tenth of a 50 ms path's (a slow start ended early by a busy
	// machine's delays, a timeout) twenty seconds to grow back; this
	// takes about twenty round trips. The delay still rises as the
	// queue grows, so LEDBAT still stops short of a queue it causes and
	// yields to one TCP makes.
	growthPerRTT = 1.0 / 8
	// baseDelayBucket is how long one minimum of the base-delay history
	// covers; the base delay is the minimum over the last len(baseHist)
	// buckets, so a route change is forgotten within a few minutes.
	baseDelayBucket = time.Minute
	initialWindow   = 16 * 1024
	// congestiveLossRate is the fraction of bytes lost above which
	// losses are congestion whatever the delay says (BBRv2's threshold):
	// the buffer at the bottleneck is too small to show our queue.
	congestiveLossRate = 0.02
	// slowStartExitDelay ends slow start once the queuing delay passes
	// it (HyStart's delay test, whose threshold is an eighth of the
	// round trip, 4 to 16 ms). The delay a sender sees lags its window
	// by a round trip, during which slow start keeps doubling: waiting
	// for 90% of targetDelay, as before, ended slow start with about
	// three times the window the path holds, and over the emulated WAN
	// (50 ms, 90 ms of buffer) a burst of a thousand tail drops.
	slowStartExitDelay = 8 * time.Millisecond
	// slowStartSamples is how many delay samples slow start takes the
	// minimum of before comparing it with slowStartExitDelay, and
	// slowStartMinWindow the least window it ends at for delay (both
	// HyStart's): a busy machine delays a reader now and then by more
	// than slowStartExitDelay, which one sample would take for a queue.
	slowStartSamples   = 8
	slowStartMinWindow = 16
	// lossSpanPackets is the least number of packets the loss rate
	// averages over, so that one loss is well under congestiveLossRate.
	lossSpanPackets = 256
)

// ledbat is the congestion controller of one connection: a window in bytes
// that grows while the one-way queuing delay our packets see is under
// targetDelay and shrinks when it is over, halves on a loss that looks like
// congestion (onLoss says which do) and falls to one packet on a timeout.
// It has no clock of its own: callers pass the time.
type ledbat struct {
	mss int // bytes of payload in a full packet
	// slowStartExits counts the times slow start ended, for Stats.
	slowStartExits int64
	cwnd           float64 // bytes allowed in flight
	ssthresh       float64
	slowStart      bool

	// lossRate is the fraction of bytes lost, averaged over the last
	// max(4 windows, lossSpanPackets) bytes sent.
	lossRate float64
	reduced  bool // the current loss episode has halved the window

	baseHist  [3]uint32 // per-bucket minima of the delay samples, µs
	baseValid [3]bool
	bucketAt  time.Time // start of baseHist[0]'s bucket
	recent    [3]uint32 // last delay samples; the minimum is "current"
	nRecent   int

	// In slow start: the least delay of the current batch of
	// slowStartSamples samples, and whether a completed batch's least
	// delay was past slowStartExitDelay.
	ssMin     uint32
	ssCount   int
	ssQueuing bool
}

func newLedbat(mss int) ledbat {
	return ledbat{mss: mss, cwnd: initialWindow, ssthresh: 1 << 30, slowStart: true}
}

// window is the number of bytes that may be in flight.
func (l *ledbat) window() int { return int(l.cwnd) }

// queuingDelay is the current delay sample over the base delay.
func (l *ledbat) queuingDelay() time.Duration {
	if l.nRecent == 0 {
		return 0
	}
	cur := l.recent[0]
	for _, s := range l.recent[1:min(l.nRecent, len(l.recent))] {
		if wrapLess(s, cur) {
			cur = s
		}
	}
	base, ok := l.base()
	if !ok || wrapLess(cur, base) {
		return 0
	}
	return time.Duration(cur-base) * time.Microsecond
}

func (l *ledbat) base() (uint32, bool) {
	var b uint32
	ok := false
	for i, v := range l.baseHist {
		if l.baseValid[i] && (!ok || wrapLess(v, b)) {
			b, ok = v, true
		}
	}
	return b, ok
}

// sample records a one-way delay measurement: the timestamp difference a
// peer echoes, in its clock minus ours, so only differences between
// samples mean anything.
func (l *ledbat) sample(delay uint32, now time.Time) {
	if l.bucketAt.IsZero() {
		l.bucketAt = now
	}
	for now.Sub(l.bucketAt) >= baseDelayBucket {
		copy(l.baseHist[1:], l.baseHist[:len(l.baseHist)-1])
		copy(l.baseValid[1:], l.baseValid[:len(l.baseValid)-1])
		l.baseValid[0] = false
		l.bucketAt = l.bucketAt.Add(baseDelayBucket)
	}
	if !l.baseValid[0] || wrapLess(delay, l.baseHist[0]) {
		l.baseHist[0], l.baseValid[0] = delay, true
	}
	l.recent[l.nRecent%len(l.recent)] = delay
	l.nRecent++
	if l.slowStart {
		if l.ssCount == 0 || wrapLess(delay, l.ssMin) {
			l.ssMin = delay
		}
		l.ssCount++
		if l.ssCount == slowStartSamples {
			base, _ := l.base()
			l.ssQueuing = !wrapLess(l.ssMin, base) && time.Duration(l.ssMin-base)*time.Microsecond > slowStartExitDelay
			l.ssCount = 0
		}
	}
}

// onAck grows or shrinks the window for acked newly acknowledged bytes.
// limited says whether sending was held back by this window: a window
// that did not limit was not tested, so it does not grow (RFC 7661); it
// still shrinks. Left to grow, it ran to tens of megabytes on loopback
// while the peer's receive window held the sender back, ready for a
// burst the path had never been shown to carry.
func (l *ledbat) onAck(acked int, limited bool) {
	if acked <= 0 {
		return
	}
	l.lossRate -= l.lossRate * min(1, float64(acked)/l.lossSpan())
	q := l.queuingDelay()
	offTarget := float64(targetDelay-q) / float64(targetDelay)
	if offTarget < -1 {
		offTarget = -1
	}
	if l.slowStart {
		if l.ssQueuing && l.cwnd >= float64(slowStartMinWindow*l.mss) || q > targetDelay*9/10 || l.cwnd >= l.ssthresh {
			l.slowStart = false
			l.slowStartExits++
		} else {
			if limited {
				l.cwnd += float64(acked)
			}
			return
		}
	}
	windowFactor := float64(acked) / l.cwnd
	if windowFactor > 1 {
		windowFactor = 1
	}
	if offTarget > 0 && !limited {
		return
	}
	gain := float64(gainPerRTT)
	if offTarget > 0 {
		gain = max(gain, l.cwnd*growthPerRTT)
	}
	l.cwnd += gain * windowFactor * offTarget
	l.clamp()
}

// onLoss accounts for a packet of n bytes lost to duplicate acks or the
// selective acks of later packets. newEpisode is true for the first loss
// of an episode (the caller's: the losses among one window of data); an
// episode halves the window at most once, at its first loss that looks
// like congestion:
//
//   - the queuing delay is more than a quarter over targetDelay: the
//     queue is longer than LEDBAT keeps it by itself, so another flow (TCP,
//     say) is filling it, and LEDBAT is there to yield to it;
//   - or the loss rate is over congestiveLossRate: the bottleneck's buffer
//     overflows before its delay reaches our target.
//
// Any other loss is taken for random loss (a radio link, a lossy path):
// the window and slow start go on. RFC 6817 halves on every loss episode,
// as libutp and libtorrent do, but LEDBAT grows by at most gainPerRTT
// bytes a round trip, about two packets: at a loss rate of 0.5% a 50 ms
// path loses packets in nearly every round trip: halving each time holds
// the window to a few dozen packets (about 0.5 MB/s), taking 15% off to
// about fifty, where the kernel's TCP (BBR) takes no notice of such loss.
// LEDBAT parks its queue at targetDelay, so "below the target" cannot
// tell random loss from congestion; "above the target" and a high loss
// rate can, and both keep LEDBAT yielding to TCP.
func (l *ledbat) onLoss(n int, newEpisode bool) {
	l.lossRate += (1 - l.lossRate) * min(1, float64(n)/l.lossSpan())
	if newEpisode {
		l.reduced = false
	}
	if l.reduced || l.queuingDelay() <= targetDelay*5/4 && l.lossRate < congestiveLossRate {
		return
	}
	l.reduced = true
	l.cwnd /= 2
	l.clamp()
	l.ssthresh = max(l.cwnd, float64(2*l.mss))
	if l.slowStart {
		l.slowStart = false
		l.slowStartExits++
	}
}

// lossSpan is how many bytes the loss rate averages over.
func (l *ledbat) lossSpan() float64 {
	return max(4*l.cwnd, float64(lossSpanPackets*l.mss))
}

// onTimeout drops the window to one packet: nothing came back for a whole
// retransmission timeout.
func (l *ledbat) onTimeout() {
	l.ssthresh = max(l.cwnd/2, float64(2*l.mss))
	l.cwnd = float64(l.mss)
	l.slowStart, l.ssQueuing, l.ssCount = true, false, 0
	// The losses so far are answered: left in the loss rate, they
	// would halve the one packet again at the next loss and end the
	// slow start back to ssthresh (seen: ssthresh at half a packet, and
	// the window grew back linearly for the rest of the transfer).
	l.lossRate = 0
}

func (l *ledbat) clamp() {
	if l.cwnd < float64(l.mss) {
		l.cwnd = float64(l.mss)
	}
}

// wrapLess compares 32-bit microsecond clocks across wrap-around.
func wrapLess(a, b uint32) bool { return int32(a-b) < 0 }

// rttEstimator is RFC 6298's smoothed round-trip time and retransmission
// timeout, with libutp's floor.
type rttEstimator struct {
	srtt, rttvar time.Duration
	valid        bool
}

const (
	minRTO     = 500 * time.Millisecond
	initialRTO = time.Second
	maxRTO     = 30 * time.Second
)

func (r *rttEstimator) sample(rtt time.Duration) {
	if !r.valid {
		r.srtt, r.rttvar, r.valid = rtt, rtt/2, true
		return
	}
	d := r.srtt - rtt
	if d < 0 {
		d = -d
	}
	r.rttvar += (d - r.rttvar) / 4
	r.srtt += (rtt - r.srtt) / 8
}

func (r *rttEstimator) rto() time.Duration {
	if !r.valid {
		return initialRTO
	}
	return min(max(r.srtt+4*r.rttvar, minRTO), maxRTO)
}
