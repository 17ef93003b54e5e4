package netemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Link moves IP packets between two packet devices (the TUN devices of
// a WAN), one pipe per direction. It runs four goroutines, a reader and a
// writer per direction, and the writers wait on one timer each.
type Link struct {
	cfg    Config
	ab, ba *pipe
	a, b   io.ReadWriteCloser
	stop   chan struct{}
	wg     sync.WaitGroup

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error // the first read or write failure other than Close
}

// NewLink starts moving packets between a and b: what a reads goes out of
// b and the other way round. Each Read must return one packet, as a TUN
// device's does. Close stops it and closes a and b.
func NewLink(cfg Config, a, b io.ReadWriteCloser) (*Link, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Link{
		cfg:  cfg,
		ab:   newPipe(cfg, cfg.Seed),
		ba:   newPipe(cfg, cfg.Seed+1),
		a:    a,
		b:    b,
		stop: make(chan struct{}),
	}
	l.wg.Add(4)
	go l.fill(l.ab, a, "A")
	go l.drain(l.ab, b)
	go l.fill(l.ba, b, "B")
	go l.drain(l.ba, a)
	return l, nil
}

// Config is the link's configuration.
func (l *Link) Config() Config { return l.cfg }

// Stats are the counters of each direction so far.
func (l *Link) Stats() (ab, ba Stats) { return l.ab.snapshot(), l.ba.snapshot() }

// ResetStats zeroes the counters, so a benchmark counts one run at a time.
func (l *Link) ResetStats() {
	l.ab.resetStats()
	l.ba.resetStats()
}

// Close stops the link and closes both devices. It returns the first
// error the link met while running, if any.
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		errA, errB := l.a.Close(), l.b.Close()
		l.wg.Wait()
		if err := errors.Join(errA, errB); err != nil {
			l.fail(fmt.Errorf("close the link's devices: %w", err))
		}
	})
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

func (l *Link) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l *Link) fail(err error) {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// fill reads packets from src into p until the link stops.
func (l *Link) fill(p *pipe, src io.Reader, name string) {
	defer l.wg.Done()
	for {
		buf := p.reserve()
		n, err := src.Read(buf)
		if err != nil {
			if !l.stopped() && !errors.Is(err, os.ErrClosed) {
				l.fail(fmt.Errorf("read a packet from side %s: %w", name, err))
			}
			return
		}
		if n > 0 {
			p.commit(time.Now(), buf, n)
		}
	}
}

// drain writes p's packets to dst as they arrive, until the link stops.
func (l *Link) drain(p *pipe, dst io.Writer) {
	defer l.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		pkt, at, ok := p.front()
		if !ok {
			select {
			case <-p.ready:
				continue
			case <-l.stop:
				return
			}
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-l.stop:
				return
			}
		}
		// A write fails when the far device is down (it is being
		// closed): the packet is gone, as on a real link.
		if _, err := dst.Write(pkt); err != nil && l.stopped() {
			return
		}
		p.pop()
	}
}
