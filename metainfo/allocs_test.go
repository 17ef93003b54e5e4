package metainfo

import (
	"crypto/sha1"
	"strconv"
	"strings"
	"testing"

	"github.com/torfs/torfs/internal/allocbound"
)

// Bounds on what parsing n untrusted bytes allocates, checked by
// FuzzParse, FuzzFromInfo and FuzzParseMagnet; TestAllocsWorstCase logs
// the worst ratio measured for the hostile shapes it builds.
var (
	// torrentLimit bounds parsing a .torrent, or an info dictionary from
	// peers. Decoding goes through bencbound (at most 107 bytes per byte
	// for what torfs decodes), a field kept raw costs a copy; the
	// constant covers the codec's read buffer and fixed costs. Measured
	// worst: 98 bytes per byte, for a v2 file tree of many files deep in
	// a chain of directories (a map per directory, a path per file).
	torrentLimit = allocbound.Limit{PerByte: 128, Const: 16 << 10}
	// magnetLimit bounds parsing a magnet link: net/url copies it and
	// makes a map entry and a slice per distinct parameter. Measured
	// worst: 43 bytes per byte, for thousands of distinct short keys.
	magnetLimit = allocbound.Limit{PerByte: 64, Const: 4 << 10}
)

// str bencodes s.
func str(s string) string { return strconv.Itoa(len(s)) + ":" + s }

// info builds an info dictionary around extra keys: a single file of one
// byte, one piece.
func info(extra string) string {
	return "d" + extra + "6:lengthi1e12:meta versioni2e4:name1:a12:piece lengthi16384e6:pieces20:" + strings.Repeat("a", 20) + "e"
}

// hostileTorrents claim far more than they hold, nest deep, or carry
// huge counts.
func hostileTorrents(n int) []string {
	chain := strings.Repeat("d1:a", 95) + "d0:d6:lengthi1eee" + strings.Repeat("e", 95)
	deep := "9:file tree" + chain
	var chains strings.Builder
	for i := range n / len(chain) {
		chains.WriteString(str(strconv.Itoa(1000000+i)) + chain)
	}
	forest := "9:file treed" + chains.String() + "e"
	var leaves strings.Builder
	for i := range n / 30 {
		leaves.WriteString(str(strconv.Itoa(1000000+i)) + "d0:d6:lengthi1eee")
	}
	wide := "9:file treed" + leaves.String() + "e"
	wideDeep := "9:file tree" + strings.Repeat("d1:a", 47) + "d" + leaves.String() + "e" + strings.Repeat("e", 47)
	// v2-only: every file gets a path of its own (empty files, which need
	// no pieces root, so the walk reaches them all).
	var empty strings.Builder
	for i := range n / 30 {
		empty.WriteString(str(strconv.Itoa(1000000+i)) + "d0:d6:lengthi0eee")
	}
	v2Info := func(tree string) string {
		return "d9:file tree" + tree + "12:meta versioni2e4:name1:a12:piece lengthi16384ee"
	}
	v2WideDeep := strings.Repeat("d1:a", 46) + "d" + empty.String() + "e" + strings.Repeat("e", 46)
	v2Wide := "d" + empty.String() + "e"
	return []string{
		"d4:info" + v2Info(v2WideDeep) + "e",
		"d4:info" + v2Info(v2Wide) + "e",
		"d4:info" + v2Info("d1:a"+"d0:d6:lengthi1e11:pieces root32:"+strings.Repeat("r", 32)+"ee"+"e") + "12:piece layersd" + strings.Repeat("32:"+strings.Repeat("q", 32)+"0:", n/40) + "ee",
		"d4:info2147483647:",
		"d2000010000:",
		"d4:info" + info(deep) + "e",
		"d4:info" + info(wide) + "e",
		"d4:info" + info(forest) + "e",
		"d4:info" + info(wideDeep) + "e",
		"d4:infod5:filesl" + strings.Repeat("de", n/2) + "e4:name1:ae",
		"d4:infod5:filesl" + strings.Repeat("d6:lengthi1e4:pathl1:aee", n/24) + "e4:name1:a12:piece lengthi16384e6:pieces20:" + strings.Repeat("a", 20) + "ee",
		"d4:infod5:filesld6:lengthi1e4:pathl" + strings.Repeat("0:", n/2) + "eee4:name1:a12:piece lengthi16384e6:pieces20:" + strings.Repeat("a", 20) + "ee",
		"d13:announce-listl" + strings.Repeat("l1:ae", n/5) + "e4:info" + info("") + "e",
		"d13:announce-listl" + strings.Repeat("le", n/2) + "e4:info" + info("") + "e",
		"d8:url-listl" + strings.Repeat("0:", n/2) + "e4:info" + info("") + "e",
		"d5:nodesl" + strings.Repeat("l1:ai1ee", n/8) + "e4:info" + info("") + "e",
		"d5:nodesl" + strings.Repeat("le", n/2) + "e4:info" + info("") + "e",
		"d4:info" + strings.Repeat("d4:info", 90) + strings.Repeat("e", 91),
	}
}

// checkInfo parses b as a .torrent and as an info dictionary from peers,
// checking each against torrentLimit, and returns the most one of them
// allocated.
func checkInfo(t testing.TB, b []byte) uint64 {
	worst := allocbound.Check(t, torrentLimit, "parsing a .torrent", b, func() { Parse(b) })
	m := &Magnet{InfoHash: sha1.Sum(b)}
	return max(worst, allocbound.Check(t, torrentLimit, "building a torrent from an info dictionary", b, func() { FromInfo(b, m) }))
}

// TestAllocsWorstCase runs hostile torrents large enough that the
// constant does not hide the multiple, and logs the worst ratio.
func TestAllocsWorstCase(t *testing.T) {
	worst := 0.0
	for _, s := range hostileTorrents(20000) {
		b := []byte(s)
		got := checkInfo(t, b)
		worst = max(worst, allocbound.Ratio(got, len(b)))
	}
	t.Logf("torrents: worst %.2f bytes per input byte (limit %d)", worst, torrentLimit.PerByte)
	worst = 0
	for _, uri := range hostileMagnets(20000) {
		got := allocbound.Check(t, magnetLimit, "parsing a magnet link", uri, func() { ParseMagnet(uri) })
		worst = max(worst, allocbound.Ratio(got, len(uri)))
	}
	t.Logf("magnets: worst %.2f bytes per input byte (limit %d)", worst, magnetLimit.PerByte)
}

// hostileMagnets carry huge counts of parameters, escapes and values.
func hostileMagnets(n int) []string {
	// Distinct keys, shortest first: each costs url.ParseQuery a map
	// entry and a slice.
	var distinct strings.Builder
	for i := 0; distinct.Len() < n; i++ {
		distinct.WriteString("&" + strconv.FormatInt(int64(i), 36))
	}
	var trackers strings.Builder
	for i := range n / 10 {
		trackers.WriteString("&tr=" + strconv.Itoa(100000+i))
	}
	xt := "magnet:?xt=urn:btih:" + hexHash
	return []string{
		xt + strings.Repeat("&", n),
		xt + strings.Repeat("&tr=", n/4),
		xt + strings.Repeat("&tr=a", n/5),
		xt + trackers.String(),
		xt + strings.Repeat("&x.pe=a:1", n/9),
		xt + distinct.String(),
		xt + strings.Repeat("&a", n/2),
		xt + "&dn=" + strings.Repeat("%41", n/3),
		xt + strings.Repeat("&xt=urn:btih:"+hexHash, n/54),
		xt + strings.Repeat("&xt=urn:btmh:", n/13),
		"magnet:" + strings.Repeat("/", n) + "?xt=urn:btih:" + hexHash,
		"magnet://" + strings.Repeat("a@", n/2) + "x/?xt=urn:btih:" + hexHash,
		"magnet:?" + strings.Repeat("%zz", n/3),
		strings.Repeat(" ", n) + xt,
	}
}
