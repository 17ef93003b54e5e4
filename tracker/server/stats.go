package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// serveStats writes a page a person can read: what the tracker holds and
// what it has answered since it started.
func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.store.Stats(r.Context())
	var b strings.Builder
	fmt.Fprintf(&b, "torfs tracker, up %s\n\n", time.Since(s.started).Round(time.Second))
	if err != nil {
		fmt.Fprintf(&b, "swarm store unavailable: %v\n", err)
	} else {
		fmt.Fprintf(&b, "swarms    %d\nseeders   %d\nleechers  %d\npeers     %d\n", st.Swarms, st.Seeders, st.Leechers, st.Seeders+st.Leechers)
	}
	fmt.Fprintf(&b, "\n%-9s %-5s %12s %12s %12s\n", "request", "proto", "ok", "refused", "failed")
	for k := range numKinds {
		fmt.Fprintf(&b, "%-9s %-5s %12d %12d %12d\n", kindLabels[k][0], kindLabels[k][1],
			s.metrics.count(k, outcomeOK), s.metrics.count(k, outcomeFailure), s.metrics.count(k, outcomeError))
	}
	fmt.Fprintf(&b, "\nannounce interval %s, min interval %s, numwant default %d, max %d\n",
		s.cfg.Interval, s.cfg.MinInterval, s.cfg.DefaultNumWant, s.cfg.MaxNumWant)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, b.String())
}
