package server

import (
	"net/netip"
	"strings"

	"github.com/torfs/torfs/tracker"
)

// announceQuery is a parsed HTTP announce query. It is parsed straight
// from the raw query string into fixed fields: url.ParseQuery would
// build a map of string slices for every request.
type announceQuery struct {
	infoHash, peerID [20]byte
	port             uint16
	uploaded         int64
	downloaded       int64
	left             int64
	event            tracker.Event
	compact          bool
	noPeerID         bool
	numWant          int // -1: not given
	ip               netip.Addr
	haveHash         bool
	havePeerID       bool
	havePort         bool
	haveLeft         bool
}

// paramError names the query parameter a request got wrong; its text is
// the "failure reason" the client shows its user.
type paramError struct {
	param, problem string
}

func (e *paramError) Error() string { return e.param + ": " + e.problem }

// Failure reasons are built once: the error path must not allocate more
// than the success path.
var (
	errMissingHash   = &paramError{"info_hash", "missing"}
	errBadHash       = &paramError{"info_hash", "must be 20 bytes, percent-encoded"}
	errMissingPeerID = &paramError{"peer_id", "missing"}
	errBadPeerID     = &paramError{"peer_id", "must be 20 bytes, percent-encoded"}
	errMissingPort   = &paramError{"port", "missing"}
	errBadPort       = &paramError{"port", "must be a number from 1 to 65535"}
	errBadUploaded   = &paramError{"uploaded", "must be a non-negative number"}
	errBadDownloaded = &paramError{"downloaded", "must be a non-negative number"}
	errBadLeft       = &paramError{"left", "must be a non-negative number"}
	errBadEvent      = &paramError{"event", "must be started, completed, stopped or empty"}
	errBadCompact    = &paramError{"compact", "must be 0 or 1"}
	errBadNumWant    = &paramError{"numwant", "must be a non-negative number"}
	errBadIP         = &paramError{"ip", "must be an IPv4 or IPv6 address"}
	errBadQuery      = &paramError{"query", "malformed percent-encoding"}
)

// parseAnnounceQuery parses raw (the part of the URL after '?'). Unknown
// parameters are ignored: private trackers' passkeys and clients'
// extensions ride along.
func parseAnnounceQuery(raw string, q *announceQuery) error {
	*q = announceQuery{numWant: -1, compact: true}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		var err error
		switch key {
		case "info_hash":
			q.haveHash = true
			if !unescape20(val, &q.infoHash) {
				err = errBadHash
			}
		case "peer_id":
			q.havePeerID = true
			if !unescape20(val, &q.peerID) {
				err = errBadPeerID
			}
		case "port":
			n, ok := parseUint(val)
			if !ok || n == 0 || n > 65535 {
				err = errBadPort
			}
			q.port, q.havePort = uint16(n), true
		case "uploaded":
			n, ok := parseUint(val)
			if !ok {
				err = errBadUploaded
			}
			q.uploaded = int64(n)
		case "downloaded":
			n, ok := parseUint(val)
			if !ok {
				err = errBadDownloaded
			}
			q.downloaded = int64(n)
		case "left":
			n, ok := parseUint(val)
			if !ok {
				err = errBadLeft
			}
			q.left, q.haveLeft = int64(n), true
		case "event":
			switch val {
			case "started":
				q.event = tracker.EventStarted
			case "completed":
				q.event = tracker.EventCompleted
			case "stopped":
				q.event = tracker.EventStopped
			case "", "empty", "paused":
				// "paused" is BEP 21's partial seed; it refreshes like none.
				q.event = tracker.EventNone
			default:
				err = errBadEvent
			}
		case "compact":
			switch val {
			case "0":
				q.compact = false
			case "1":
				q.compact = true
			default:
				err = errBadCompact
			}
		case "no_peer_id":
			q.noPeerID = val != "0"
		case "numwant", "num_want":
			n, ok := parseUint(val)
			if !ok {
				err = errBadNumWant
			}
			q.numWant = int(min(n, 1<<20))
		case "ip":
			s, ok := unescapeSmall(val)
			if !ok {
				err = errBadIP
				break
			}
			a, perr := netip.ParseAddr(s)
			if perr != nil || a.Zone() != "" {
				err = errBadIP
				break
			}
			q.ip = a.Unmap()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case !q.haveHash:
		return errMissingHash
	case !q.havePeerID:
		return errMissingPeerID
	case !q.havePort:
		return errMissingPort
	}
	return nil
}

// parseUint parses a decimal number below 2^62 (a torrent byte count or a
// port), rejecting signs, spaces and empty strings.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape20 percent-decodes s into dst and reports whether it held
// exactly 20 bytes. Like url.QueryUnescape, '+' means a space.
func unescape20(s string, dst *[20]byte) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if n == 20 {
			return false
		}
		c := s[i]
		switch c {
		case '%':
			if i+2 > len(s)-1 {
				return false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return false
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		dst[n] = c
		n++
	}
	return n == 20
}

// unescapeSmall percent-decodes a short value (an IP address) on the
// stack-sized path; it allocates only when s has escapes.
func unescapeSmall(s string) (string, bool) {
	if len(s) > 128 {
		return "", false
	}
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	var buf [128]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if i+2 > len(s)-1 {
				return "", false
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", false
			}
			c = hi<<4 | lo
			i += 2
		case '+':
			c = ' '
		}
		buf[n] = c
		n++
	}
	return string(buf[:n]), true
}

// parseScrapeQuery appends the info_hash values of a scrape query to
// hashes, at most limit of them.
func parseScrapeQuery(raw string, hashes [][20]byte, limit int) ([][20]byte, error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		if key != "info_hash" {
			continue
		}
		if len(hashes) >= limit {
			return hashes, errTooManyHashes
		}
		var h [20]byte
		if !unescape20(val, &h) {
			return hashes, errBadHash
		}
		hashes = append(hashes, h)
	}
	if len(hashes) == 0 {
		return hashes, errScrapeNoHash
	}
	return hashes, nil
}

var (
	errTooManyHashes = &paramError{"info_hash", "too many in one scrape; ask for fewer"}
	errScrapeNoHash  = &paramError{"info_hash", "missing: this tracker does not serve full scrapes"}
)
