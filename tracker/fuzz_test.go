package tracker

import (
	"strconv"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
	"github.com/torfs/torfs/tracker/internal/udpproto"
)

// responseLimit bounds what decoding an n-byte tracker answer (HTTP
// announce or scrape, UDP announce or scrape) allocates. The bencoded
// ones go through bencbound (at most 107 bytes per byte for what torfs
// decodes); peers are kept to maxPeers, 32 bytes each. The constant
// covers the codec's read buffer and fixed costs. Measured worst
// (TestAllocsWorstCase): 87 bytes per byte, for a "peers" list of empty
// dictionaries (a dictPeer struct each).
var responseLimit = allocbound.Limit{PerByte: 128, Const: 16 << 10}

// hostileResponses claim far more than they hold, nest deep, or carry
// huge counts, in up to about n bytes each.
func hostileResponses(n int) []string {
	return []string{
		"99999999999:x",
		"d5:peers2000000000:\x7f\x00\x00\x01\x1a\xe1e",
		"d2000010000:",
		"d5:peers" + strings.Repeat("l", 40) + strings.Repeat("e", 40) + "e",
		"d5:peersl" + strings.Repeat("de", n/2) + "ee",
		"d5:peersl" + strings.Repeat("d2:ip9:127.0.0.14:porti1ee", n/26) + "ee",
		"d5:peers" + strconv.Itoa(n/6*6) + ":" + strings.Repeat("\x7f\x00\x00\x01\x1a\xe1", n/6) + "e",
		"d5:filesd" + strings.Repeat("0:de", n/4) + "ee",
		"d14:failure reason" + "2147483647:e",
	}
}

// responseSteps are the decoders of a tracker's answer, run over b.
func responseSteps(b []byte) []allocbound.Step {
	// A UDP scrape answer is read for the hashes we asked about, into a
	// map sized for them: both are ours, made before the measurement.
	batch := make([][20]byte, udpproto.MaxScrapeCount)
	for i := range batch {
		batch[i][0] = byte(i)
	}
	out := make(map[[20]byte]ScrapeStats, len(batch))
	return []allocbound.Step{
		{What: "decoding an HTTP announce answer", F: func() { ParseAnnounceResponse(b) }},
		{What: "decoding an HTTP scrape answer", F: func() { ParseScrapeResponse(b) }},
		{What: "decoding a UDP announce answer", F: func() {
			parseUDPAnnounceResponse(b, false)
			parseUDPAnnounceResponse(b, true)
		}},
		{What: "decoding a UDP scrape answer", F: func() { parseUDPScrapeResponse(b, batch, out) }},
	}
}

func FuzzParseAnnounceResponse(f *testing.F) {
	f.Add([]byte("d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d8:completei1e10:incompletei2e8:intervali60e12:min intervali30e5:peersld2:ip9:127.0.0.17:peer id20:AAAAAAAAAAAAAAAAAAAA4:porti1eee6:peers618:AAAAAAAAAAAAAAAA\x00\x01e"))
	f.Add([]byte("d14:failure reason4:nopee"))
	f.Add([]byte("d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei1e10:downloadedi2e10:incompletei3eeee"))
	for _, s := range hostileResponses(300) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseAnnounceResponse(b); err == nil {
			if len(r.Peers) > maxPeers || r.Interval < 0 || r.Complete < 0 {
				t.Fatalf("accepted %q as %+v", b, r)
			}
		}
		// No answer may make its decoder allocate more than a small
		// multiple of its size.
		allocbound.CheckEach(t, responseLimit, b, responseSteps(b)...)
	})
}

// TestAllocsWorstCase runs the hostile answers, and larger ones whose
// cost per byte the constant does not hide, and logs the worst ratio.
func TestAllocsWorstCase(t *testing.T) {
	const n = 10000
	big := []string{
		"d5:peersl" + strings.Repeat("de", n) + "ee",
		"d5:peersl" + strings.Repeat("d2:ip9:127.0.0.14:porti1ee", n) + "ee",
		"d5:peers" + "60000:" + strings.Repeat("\x7f\x00\x00\x01\x1a\xe1", n) + "e",
		"d6:peers6" + "180000:" + strings.Repeat("\x00", 18*n) + "e",
		"d5:filesd" + strings.Repeat("0:de", n) + "ee",
		"d5:filesd" + strings.Repeat("20:aaaaaaaaaaaaaaaaaaaade", n) + "ee",
		"d5:filesl" + strings.Repeat("de", n) + "ee",
		strings.Repeat("\x00", 20+18*n),
	}
	worst := 0.0
	for _, s := range append(hostileResponses(n), big...) {
		b := []byte(s)
		for _, s := range responseSteps(b) {
			got := allocbound.Check(t, responseLimit, s.What, b, s.F)
			if len(b) >= n {
				worst = max(worst, allocbound.Ratio(got, len(b)))
			}
		}
	}
	t.Logf("worst: %.2f bytes per input byte (limit %d)", worst, responseLimit.PerByte)
}
