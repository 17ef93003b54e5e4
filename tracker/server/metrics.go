package server

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type kind int

const (
	kindAnnounceHTTP kind = iota
	kindScrapeHTTP
	kindConnectUDP
	kindAnnounceUDP
	kindScrapeUDP
	numKinds
)

var kindLabels = [numKinds][2]string{
	{"announce", "http"}, {"scrape", "http"}, {"connect", "udp"}, {"announce", "udp"}, {"scrape", "udp"},
}

type outcome int

const (
	outcomeOK      outcome = iota // answered
	outcomeFailure                // refused with a failure reason: the client's fault
	outcomeError                  // the tracker's fault (store down, ...)
	numOutcomes
)

var outcomeLabels = [numOutcomes]string{"ok", "failure", "error"}

// metrics are a Server's Prometheus collectors, in a registry of its own
// so that several Servers (tests) do not collide. Counters are resolved
// once: a label lookup per request would cost a hash and a lock.
type metrics struct {
	registry *prometheus.Registry
	handler  http.Handler
	// requests are plain atomics exported through CounterFuncs, so that
	// /stats can read them and a request costs one atomic add.
	requests [numKinds][numOutcomes]atomic.Uint64
	latency  [numKinds]prometheus.Observer
}

func newMetrics(store Store) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "torfs_tracker_request_duration_seconds",
		Help:    "Time to answer a tracker request, from parsed request to written answer.",
		Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1},
	}, []string{"kind", "proto"})
	for k := range numKinds {
		for o := range numOutcomes {
			c := &m.requests[k][o]
			m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "torfs_tracker_requests_total",
				Help: "Tracker requests by kind, protocol and outcome (ok, failure: refused with a reason, error: tracker fault).",
				ConstLabels: prometheus.Labels{
					"kind": kindLabels[k][0], "proto": kindLabels[k][1], "outcome": outcomeLabels[o],
				},
			}, func() float64 { return float64(c.Load()) }))
		}
		m.latency[k] = lat.WithLabelValues(kindLabels[k][0], kindLabels[k][1])
	}
	stat := func(pick func(StoreStats) int) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := store.Stats(ctx)
			if err != nil {
				return -1
			}
			return float64(pick(st))
		}
	}
	m.registry.MustRegister(lat,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "torfs_tracker_swarms", Help: "Swarms with at least one peer."},
			stat(func(s StoreStats) int { return s.Swarms })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "torfs_tracker_seeders", Help: "Peers with the whole torrent."},
			stat(func(s StoreStats) int { return s.Seeders })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "torfs_tracker_leechers", Help: "Peers still downloading."},
			stat(func(s StoreStats) int { return s.Leechers })),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(k kind, o outcome, d time.Duration) {
	m.requests[k][o].Add(1)
	m.latency[k].Observe(d.Seconds())
}

// count reads a request counter, for /stats.
func (m *metrics) count(k kind, o outcome) uint64 { return m.requests[k][o].Load() }
