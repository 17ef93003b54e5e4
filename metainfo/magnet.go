package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Magnet is a parsed magnet link (BEP 9; BEP 52's urn:btmh).
type Magnet struct {
	// InfoHash is the v1 info-hash (urn:btih). A v2-only link has none:
	// there it is InfoHashV2 truncated to 20 bytes, as MetaInfo's is.
	InfoHash Hash
	// InfoHashV2 is the v2 info-hash (urn:btmh), zero when the link has
	// none.
	InfoHashV2  Hash256
	DisplayName string   // dn; "" when absent
	Trackers    []string // tr, in order, duplicates removed
	Peers       []string // x.pe as "host:port"
	WebSeeds    []string // ws (BEP 19)
}

// IsMagnet reports whether s is a magnet link rather than a path: it
// starts with "magnet:" in any case.
func IsMagnet(s string) bool {
	return len(s) >= 7 && strings.EqualFold(s[:7], "magnet:")
}

// HasV2 reports whether the link has a v2 info-hash (urn:btmh).
func (m *Magnet) HasV2() bool { return m.InfoHashV2 != Hash256{} }

// HasV1 reports whether the link has a v1 info-hash (urn:btih).
func (m *Magnet) HasV1() bool { return !m.HasV2() || m.InfoHash != m.InfoHashV2.Truncated() }

// Matches reports whether info, the bytes of an info dictionary, hash to
// the link's info-hashes: SHA-1 for urn:btih, SHA-256 for urn:btmh, both
// when it has both.
func (m *Magnet) Matches(info []byte) bool {
	if m.HasV1() && Hash(sha1.Sum(info)) != m.InfoHash {
		return false
	}
	return !m.HasV2() || Hash256(sha256.Sum256(info)) == m.InfoHashV2
}

// Names reports whether the link names mi: by its v1 info-hash, or by its
// v2 one for a link with only urn:btmh.
func (m *Magnet) Names(mi *MetaInfo) bool {
	if m.HasV1() {
		return mi.HasV1() && mi.InfoHash == m.InfoHash
	}
	return mi.HasV2() && mi.InfoHashV2 == m.InfoHashV2
}

// ParseMagnet parses a magnet URI with a v1 info-hash
// (xt=urn:btih: in 40 hex digits or 32 base32 characters), a v2 one
// (xt=urn:btmh:1220 and 64 hex digits: a SHA-256 multihash), or both (a
// hybrid torrent). Parameters other than xt, dn, tr, x.pe and ws are
// ignored.
func ParseMagnet(uri string) (*Magnet, error) {
	u, err := url.Parse(strings.TrimSpace(uri))
	if err != nil {
		return nil, fmt.Errorf("invalid magnet link: %w", err)
	}
	if !strings.EqualFold(u.Scheme, "magnet") {
		return nil, fmt.Errorf("not a magnet link: %q does not start with \"magnet:?\"", short(uri))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("invalid magnet link: %w", err)
	}
	m := &Magnet{DisplayName: q.Get("dn")}
	found, v2 := false, false
	var h2 Hash256
	for _, xt := range q["xt"] {
		lower := strings.ToLower(xt)
		switch {
		case strings.HasPrefix(lower, "urn:btih:"):
			h, err := parseBTIH(xt[len("urn:btih:"):])
			if err != nil {
				return nil, err
			}
			if found && h != m.InfoHash {
				return nil, errors.New("invalid magnet link: two different urn:btih info-hashes")
			}
			m.InfoHash, found = h, true
		case strings.HasPrefix(lower, "urn:btmh:"):
			h, err := parseBTMH(xt[len("urn:btmh:"):])
			if err != nil {
				return nil, err
			}
			if v2 && h != h2 {
				return nil, errors.New("invalid magnet link: two different urn:btmh info-hashes")
			}
			h2, v2 = h, true
		}
	}
	switch {
	case !found && !v2:
		return nil, errors.New("invalid magnet link: no xt=urn:btih: or xt=urn:btmh: info-hash")
	case !found:
		m.InfoHash = h2.Truncated()
	}
	m.InfoHashV2 = h2
	m.Trackers = uniqueNonBlank(q["tr"])
	m.WebSeeds = uniqueNonBlank(q["ws"])
	for _, pe := range uniqueNonBlank(q["x.pe"]) {
		host, port, err := net.SplitHostPort(pe)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || host == "" || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("invalid magnet link: peer address x.pe=%q is not host:port", pe)
		}
		m.Peers = append(m.Peers, pe)
	}
	return m, nil
}

// parseBTIH decodes a v1 info-hash written in hex or base32.
func parseBTIH(s string) (Hash, error) {
	var h Hash
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return h, fmt.Errorf("invalid magnet link: info-hash %q is not hexadecimal", s)
		}
	case 32:
		b, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		if err != nil || len(b) != HashSize {
			return h, fmt.Errorf("invalid magnet link: info-hash %q is not base32", s)
		}
		copy(h[:], b)
	default:
		return h, fmt.Errorf("invalid magnet link: info-hash %q has %d characters; want 40 hex or 32 base32", short(s), len(s))
	}
	return h, nil
}

// parseBTMH decodes a v2 info-hash written as a SHA-256 multihash in hex:
// 0x12 (SHA-256), 0x20 (32 bytes), the digest.
func parseBTMH(s string) (Hash256, error) {
	var h Hash256
	const prefix = "1220"
	if len(s) != len(prefix)+2*Hash256Size || !strings.EqualFold(s[:len(prefix)], prefix) {
		return h, fmt.Errorf("invalid magnet link: v2 info-hash %q is not a SHA-256 multihash (1220 and 64 hex digits)", short(s))
	}
	if _, err := hex.Decode(h[:], []byte(s[len(prefix):])); err != nil {
		return h, fmt.Errorf("invalid magnet link: v2 info-hash %q is not hexadecimal", short(s))
	}
	return h, nil
}

// String returns the magnet URI, with the info-hashes in hex: urn:btih
// for v1, urn:btmh for v2, both for a hybrid.
func (m *Magnet) String() string {
	var b strings.Builder
	b.WriteString("magnet:?")
	if m.HasV1() {
		b.WriteString("xt=urn:btih:")
		b.WriteString(m.InfoHash.String())
		if m.HasV2() {
			b.WriteString("&")
		}
	}
	if m.HasV2() {
		b.WriteString("xt=urn:btmh:1220")
		b.WriteString(m.InfoHashV2.String())
	}
	if m.DisplayName != "" {
		b.WriteString("&dn=" + url.QueryEscape(m.DisplayName))
	}
	for _, t := range m.Trackers {
		b.WriteString("&tr=" + url.QueryEscape(t))
	}
	for _, w := range m.WebSeeds {
		b.WriteString("&ws=" + url.QueryEscape(w))
	}
	for _, p := range m.Peers {
		b.WriteString("&x.pe=" + url.QueryEscape(p))
	}
	return b.String()
}

// Magnet returns a magnet link for the torrent: its info-hashes, name,
// trackers (all tiers, flattened) and web seeds.
func (m *MetaInfo) Magnet() *Magnet {
	mg := &Magnet{InfoHash: m.InfoHash, InfoHashV2: m.InfoHashV2, DisplayName: m.Info.Name, WebSeeds: m.URLList}
	for _, tier := range m.Trackers() {
		mg.Trackers = append(mg.Trackers, tier...)
	}
	return mg
}

func uniqueNonBlank(in []string) []string {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// short trims s for an error message.
func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
