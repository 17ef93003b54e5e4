package server

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
	"github.com/torfs/torfs/tracker/internal/udpproto"
)

// Bounds on what parsing a client's request of n bytes allocates,
// checked by FuzzParseAnnounceQuery and FuzzUDPPacket.
var (
	// queryLimit: an announce query is parsed without allocating but
	// for a short key; a scrape query collects 20-byte hashes, each
	// from at least 31 bytes of query ("info_hash=", 20 bytes, "&"), in
	// a slice that doubles: 40 bytes per 31. The constant leaves room
	// for the runtime. Measured worst (TestAllocsWorstCase): 1.29 bytes
	// per byte, for a scrape of 64 unescaped info_hash values.
	queryLimit = allocbound.Limit{PerByte: 2, Const: 1 << 10}
	// udpLimit: a UDP request is a fixed-size header and fixed fields,
	// copied into reused state: parsing one allocates nothing whatever
	// its size. The constant leaves room for the runtime. Answering one
	// is not bounded here: the store's costs (a new swarm, a shard's map
	// growing, up to 72 KiB at once measured over 200000 new swarms)
	// depend on how many swarms there are, not on the request.
	udpLimit = allocbound.Limit{Const: 1 << 10}
)

// hostileQueries carry huge counts and numbers, and escapes that claim
// more than they hold, in about n bytes each.
func hostileQueries(n int) []string {
	return []string{
		strings.Repeat("info_hash=a&", n/12),
		strings.Repeat("info_hash=%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61&", 64),
		strings.Repeat("&", n),
		strings.Repeat("%", n),
		"port=" + strings.Repeat("9", n),
		"key=" + strings.Repeat("%ff", n/6) + "&trackerid=" + strings.Repeat("x", n/2),
	}
}

// querySteps parse raw as an announce and as a scrape query.
func querySteps(raw string) []allocbound.Step {
	return []allocbound.Step{
		{What: "parsing an announce query", F: func() {
			var q announceQuery
			parseAnnounceQuery(raw, &q)
		}},
		{What: "parsing a scrape query", F: func() { parseScrapeQuery(raw, nil, 64) }},
	}
}

// parseUDP parses a request as handleUDP does before it reaches the
// store: header, then an announce's fields or a scrape's hashes into
// reused state.
func parseUDP(st *udpState, p []byte) {
	_, action, _, err := udpproto.ParseHeader(p)
	if err != nil {
		return
	}
	switch action {
	case udpproto.ActionAnnounce:
		udpproto.ParseAnnounce(p, &st.ann)
	case udpproto.ActionScrape:
		body := p[udpproto.ScrapeHeaderLen:]
		st.hashes = st.hashes[:0]
		for i := range min(len(body)/20, udpproto.MaxScrapeCount) {
			st.hashes = append(st.hashes, [20]byte(body[20*i:]))
		}
	}
}

// TestAllocsWorstCase runs the hostile queries and requests, and logs
// the worst ratio measured.
func TestAllocsWorstCase(t *testing.T) {
	worst := 0.0
	for _, raw := range append(hostileQueries(10000), strings.Repeat("info_hash=a&", 64), strings.Repeat("info_hash=aaaaaaaaaaaaaaaaaaaa&", 64)) {
		for _, s := range querySteps(raw) {
			got := allocbound.Check(t, queryLimit, s.What, raw, s.F)
			worst = max(worst, allocbound.Ratio(got, len(raw)))
		}
	}
	t.Logf("queries: worst %.2f bytes per input byte (limit %d)", worst, queryLimit.PerByte)
	st := &udpState{hashes: make([][20]byte, 0, udpproto.MaxScrapeCount)}
	scrape := binary.BigEndian.AppendUint64(nil, 1)
	scrape = binary.BigEndian.AppendUint32(scrape, udpproto.ActionScrape)
	scrape = append(binary.BigEndian.AppendUint32(scrape, 3), make([]byte, 2000)...)
	for _, p := range [][]byte{scrape, append(udpproto.AppendAnnounce(nil, &udpproto.Announce{}), make([]byte, 1500)...)} {
		allocbound.Check(t, udpLimit, "parsing a UDP request", p, func() { parseUDP(st, p) })
	}
}
