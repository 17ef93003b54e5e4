package server

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/zeebo/bencode"

	"github.com/torfs/torfs/tracker"
)

// httpState is the per-request scratch space of an announce or scrape,
// pooled so that the steady state allocates little.
type httpState struct {
	q      announceQuery
	pa     PeerAnnounce
	res    AnnounceResult
	buf    bytes.Buffer
	body   []byte // a compact announce answer
	peers4 []byte
	peers6 []byte
	dict   []dictPeerReply
	hashes [][20]byte
	counts []tracker.ScrapeStats
}

// compactReply is an announce answer with BEP 23 compact peers and BEP 7
// peers6.
type compactReply struct {
	Complete    int    `bencode:"complete"`
	Incomplete  int    `bencode:"incomplete"`
	Downloaded  int    `bencode:"downloaded"`
	Interval    int64  `bencode:"interval"`
	MinInterval int64  `bencode:"min interval"`
	Peers       []byte `bencode:"peers"`
	Peers6      []byte `bencode:"peers6,omitempty"`
}

// dictReply is an announce answer with BEP 3 dictionary peers.
type dictReply struct {
	Complete    int             `bencode:"complete"`
	Incomplete  int             `bencode:"incomplete"`
	Downloaded  int             `bencode:"downloaded"`
	Interval    int64           `bencode:"interval"`
	MinInterval int64           `bencode:"min interval"`
	Peers       []dictPeerReply `bencode:"peers"`
}

type dictPeerReply struct {
	PeerID []byte `bencode:"peer id,omitempty"`
	IP     string `bencode:"ip"`
	Port   uint16 `bencode:"port"`
}

type failureReply struct {
	FailureReason string `bencode:"failure reason"`
}

// httpRequest is what the announce and scrape logic needs from an HTTP
// request, whichever server parsed it.
type httpRequest struct {
	ctx      context.Context
	rawQuery string
	remote   netip.AddrPort
	xff      []string // X-Forwarded-For values
}

func fromHTTP(r *http.Request) httpRequest {
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	return httpRequest{ctx: r.Context(), rawQuery: r.URL.RawQuery, remote: remote, xff: r.Header["X-Forwarded-For"]}
}

func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := s.pool.Get().(*httpState)
	defer s.pool.Put(st)
	body, outcome := s.announceBody(fromHTTP(r), st)
	writeBody(w, body)
	s.metrics.observe(kindAnnounceHTTP, outcome, time.Since(start))
}

// writeBody sends a bencoded answer, or a 500 when there is none.
func writeBody(w http.ResponseWriter, body []byte) {
	if body == nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeBencoded(w, body)
}

// announceBody answers an announce: the bencoded body in st.buf, or nil
// for an internal error.
func (s *Server) announceBody(r httpRequest, st *httpState) ([]byte, outcome) {
	q := &st.q
	if err := parseAnnounceQuery(r.rawQuery, q); err != nil {
		return s.failureBody(st, err.Error()), outcomeFailure
	}
	if s.cfg.Allow != nil && !s.cfg.Allow.Allowed(q.infoHash) {
		return s.failureBody(st, "info_hash: this tracker does not serve that torrent"), outcomeFailure
	}
	addr, err := s.peerAddr(r, q)
	if err != nil {
		return s.failureBody(st, err.Error()), outcomeFailure
	}
	numWant := s.cfg.DefaultNumWant
	if q.numWant >= 0 {
		numWant = min(q.numWant, s.cfg.MaxNumWant)
	}
	st.pa = PeerAnnounce{
		InfoHash: q.infoHash,
		PeerID:   q.peerID,
		Event:    q.event,
		Seeder:   q.haveLeft && q.left == 0,
		NumWant:  numWant,
	}
	st.pa.Addr = netip.AddrPortFrom(addr, q.port)
	st.res.Peers = st.res.Peers[:0]
	if err := s.store.Announce(r.ctx, &st.pa, &st.res); err != nil {
		s.log.Error("tracker store failed", "err", err)
		return s.failureBody(st, "the tracker's swarm store is unavailable; try again later"), outcomeError
	}
	res := &st.res
	if q.compact {
		st.peers4, st.peers6 = st.peers4[:0], st.peers6[:0]
		for _, p := range res.Peers {
			a := p.Addr.Addr()
			if a.Is4() {
				st.peers4 = appendAddrPort(st.peers4, a.AsSlice(), p.Addr.Port())
			} else {
				st.peers6 = appendAddrPort(st.peers6, a.AsSlice(), p.Addr.Port())
			}
		}
		r := compactReply{
			Complete: res.Complete, Incomplete: res.Incomplete, Downloaded: res.Downloaded,
			Interval: s.interval, MinInterval: s.minIntvl,
			Peers: st.peers4, Peers6: st.peers6,
		}
		st.body = r.appendBencode(st.body[:0])
		return st.body, outcomeOK
	}
	st.buf.Reset()
	st.dict = st.dict[:0]
	for i := range res.Peers {
		p := &res.Peers[i]
		d := dictPeerReply{IP: p.Addr.Addr().String(), Port: p.Addr.Port()}
		if !q.noPeerID {
			d.PeerID = p.ID[:]
		}
		st.dict = append(st.dict, d)
	}
	err = bencode.NewEncoder(&st.buf).Encode(dictReply{
		Complete: res.Complete, Incomplete: res.Incomplete, Downloaded: res.Downloaded,
		Interval: s.interval, MinInterval: s.minIntvl,
		Peers: st.dict,
	})
	if err != nil {
		s.log.Error("tracker cannot encode an answer", "err", err)
		return nil, outcomeError
	}
	return st.buf.Bytes(), outcomeOK
}

func appendAddrPort(b []byte, ip []byte, port uint16) []byte {
	return append(append(b, ip...), byte(port>>8), byte(port))
}

// writeBencoded sends a bencoded answer. Trackers answer 200 even for a
// failure reason: clients only read the body of a 200.
func writeBencoded(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	// No Date header: clients do not use it, and formatting the time for
	// every announce is measurable.
	h["Date"] = nil
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// textPlain is shared by every answer; net/http does not modify it.
var textPlain = []string{"text/plain"}

// failureBody encodes a "failure reason" answer into st.buf.
func (s *Server) failureBody(st *httpState, reason string) []byte {
	st.buf.Reset()
	if err := bencode.NewEncoder(&st.buf).Encode(failureReply{reason}); err != nil {
		return nil
	}
	return st.buf.Bytes()
}

// scrapeReply is a BEP 48 scrape answer, keyed by raw info-hash; the
// client's counterpart is tracker.ParseScrapeResponse.
type scrapeReply struct {
	Files map[string]scrapeFileReply `bencode:"files"`
}

type scrapeFileReply struct {
	Complete   int `bencode:"complete"`
	Downloaded int `bencode:"downloaded"`
	Incomplete int `bencode:"incomplete"`
}

func (s *Server) serveScrape(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := s.pool.Get().(*httpState)
	defer s.pool.Put(st)
	body, outcome := s.scrapeBody(fromHTTP(r), st)
	writeBody(w, body)
	s.metrics.observe(kindScrapeHTTP, outcome, time.Since(start))
}

func (s *Server) scrapeBody(r httpRequest, st *httpState) ([]byte, outcome) {
	var err error
	st.hashes, err = parseScrapeQuery(r.rawQuery, st.hashes[:0], s.cfg.MaxScrape)
	if err != nil {
		return s.failureBody(st, err.Error()), outcomeFailure
	}
	st.counts = slices.Grow(st.counts[:0], len(st.hashes))[:len(st.hashes)]
	if err := s.store.Scrape(r.ctx, st.hashes, st.counts); err != nil {
		s.log.Error("tracker store failed", "err", err)
		return s.failureBody(st, "the tracker's swarm store is unavailable; try again later"), outcomeError
	}
	files := make(map[string]scrapeFileReply, len(st.hashes))
	for i, h := range st.hashes {
		if s.cfg.Allow != nil && !s.cfg.Allow.Allowed(h) {
			continue
		}
		c := st.counts[i]
		files[string(h[:])] = scrapeFileReply{Complete: c.Complete, Downloaded: c.Downloaded, Incomplete: c.Incomplete}
	}
	st.buf.Reset()
	if err := bencode.NewEncoder(&st.buf).Encode(scrapeReply{files}); err != nil {
		s.log.Error("tracker cannot encode an answer", "err", err)
		return nil, outcomeError
	}
	return st.buf.Bytes(), outcomeOK
}
