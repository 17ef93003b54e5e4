package netemu

import (
	"testing"
	"time"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// offer puts a size-byte packet into p at now, filling it with tag.
func offer(p *pipe, now time.Time, size int, tag byte) verdict {
	buf := p.reserve()
	for i := range size {
		buf[i] = tag
	}
	return p.commit(now, buf, size)
}

func TestPipeRateAndDelay(t *testing.T) {
	// 10 Mbit/s: a 1250-byte packet takes 1 ms to serialize.
	p := newPipe(Config{Delay: 25 * time.Millisecond, Rate: 10_000_000}, 1)
	for i := range 10 {
		if v := offer(p, t0, 1250, byte(i)); v != accepted {
			t.Fatalf("packet %d: verdict %d, want accepted", i, v)
		}
	}
	for i := range 10 {
		pkt, at, ok := p.front()
		if !ok {
			t.Fatalf("packet %d missing", i)
		}
		want := t0.Add(time.Duration(i+1)*time.Millisecond + 25*time.Millisecond)
		if !at.Equal(want) {
			t.Errorf("packet %d arrives at +%v, want +%v", i, at.Sub(t0), want.Sub(t0))
		}
		if len(pkt) != 1250 || pkt[0] != byte(i) || pkt[1249] != byte(i) {
			t.Errorf("packet %d: %d bytes starting %d, want 1250 bytes of %d", i, len(pkt), pkt[0], i)
		}
		p.pop()
	}
	if _, _, ok := p.front(); ok {
		t.Fatal("pipe not empty after 10 pops")
	}
	// An idle link starts serializing at once: departure is max(now, last).
	offer(p, t0.Add(time.Second), 125, 0)
	if _, at, _ := p.front(); !at.Equal(t0.Add(time.Second + 100*time.Microsecond + 25*time.Millisecond)) {
		t.Errorf("packet on an idle link arrives at +%v, want +1.0251s", at.Sub(t0))
	}
	s := p.snapshot()
	if s.MaxQueueDelay != 10*time.Millisecond || s.MaxQueue != 10 || s.Packets != 10 || s.Bytes != 12500 || s.Accepted != 11 {
		t.Errorf("stats %+v: want max queue delay 10ms, max queue 10, 10 packets of 12500 bytes delivered, 11 accepted", s)
	}
	// Waits 0.1 ms and 1 to 10 ms: the median is 5 ms (reported as the
	// top of its 1 ms bucket), the 95th percentile the 10 ms maximum.
	if p50, p95 := s.QueueDelayPercentile(0.5), s.QueueDelayPercentile(0.95); p50 != 6*time.Millisecond || p95 != 10*time.Millisecond {
		t.Errorf("queuing delay p50 %v p95 %v; want 6ms and 10ms", p50, p95)
	}
}

func TestPipeNoRateIsDelayOnly(t *testing.T) {
	p := newPipe(Config{Delay: 7 * time.Millisecond}, 1)
	for i := range 3 {
		offer(p, t0, MTU, 0)
		_, at, _ := p.front()
		if !at.Equal(t0.Add(7 * time.Millisecond)) {
			t.Fatalf("packet %d arrives at +%v, want +7ms", i, at.Sub(t0))
		}
		p.pop()
	}
}

func TestPipeTailDrop(t *testing.T) {
	p := newPipe(Config{Limit: 5, Rate: 1_000_000}, 1)
	var got []verdict
	for range 7 {
		got = append(got, offer(p, t0, 100, 0))
	}
	want := []verdict{accepted, accepted, accepted, accepted, accepted, dropped, dropped}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	p.pop()
	if v := offer(p, t0, 100, 9); v != accepted {
		t.Fatalf("after a pop, verdict %d, want accepted", v)
	}
	// The ring wrapped around: the newest packet is the last one out.
	for range 4 {
		p.pop()
	}
	if pkt, _, ok := p.front(); !ok || pkt[0] != 9 {
		t.Fatalf("last packet %v (ok %v), want the one tagged 9", pkt, ok)
	}
	s := p.snapshot()
	if s.Dropped != 2 || s.MaxQueue != 5 || s.Lost != 0 {
		t.Errorf("stats %+v: want 2 dropped, max queue 5, none lost", s)
	}
}

func TestPipeLossRate(t *testing.T) {
	const n, loss = 200_000, 0.005
	count := func(seed uint64) (nLost int, pattern []verdict) {
		p := newPipe(Config{Loss: loss}, seed)
		for i := range n {
			v := offer(p, t0, 60, 0)
			if v == lost {
				nLost++
			}
			if i < 2000 {
				pattern = append(pattern, v)
			}
			if v == accepted {
				p.pop()
			}
		}
		if s := p.snapshot(); s.Lost != int64(nLost) || s.Packets != int64(n-nLost) {
			t.Errorf("stats %+v: want %d lost, %d delivered", s, nLost, n-nLost)
		}
		return nLost, pattern
	}
	lost1, pat1 := count(1)
	// Binomial: mean 1000, standard deviation about 32.
	if lost1 < 850 || lost1 > 1150 {
		t.Errorf("lost %d of %d packets at %.1f%% loss, want about %d", lost1, n, loss*100, int(n*loss))
	}
	lostAgain, patAgain := count(1)
	if lostAgain != lost1 || string(verdictBytes(patAgain)) != string(verdictBytes(pat1)) {
		t.Errorf("the same seed lost %d then %d packets, in different places: want a repeatable run", lost1, lostAgain)
	}
	if _, pat2 := count(2); string(verdictBytes(pat2)) == string(verdictBytes(pat1)) {
		t.Error("seeds 1 and 2 lost the same packets")
	}
}

func verdictBytes(v []verdict) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func TestPipeAllocatesNothing(t *testing.T) {
	p := newPipe(Config{Delay: time.Millisecond, Rate: 1e9, Loss: 0.1}, 1)
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		if offer(p, now, MTU, 1) == accepted {
			p.front()
			p.pop()
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet, want 0", allocs)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Loss: -0.1}, {Loss: 1.5}, {Delay: -time.Second}, {Rate: -1}} {
		if _, err := NewLink(c, nil, nil); err == nil {
			t.Errorf("NewLink(%+v) accepted a bad config", c)
		}
	}
}
