package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"fmt"

	"github.com/torfs/torfs/internal/bencbound"
)

// MaxInfoSize bounds an info dictionary fetched from peers (BEP 9): the
// largest real ones are a few MiB, and a peer's claimed size must not make
// us allocate more than this.
const MaxInfoSize = maxTorrentFile

// FromInfo builds a MetaInfo from the bytes of an info dictionary fetched
// by magnet link. The bytes must hash to the link's info-hashes (SHA-1
// for urn:btih, SHA-256 for urn:btmh, both when it has both) and are parsed exactly
// as a .torrent file's info dictionary is. The magnet's trackers become
// the announce list, each its own tier (every tr is an alternative the
// link's author listed; BEP 12 tiers of one try them all), and its web
// seeds the URL list.
func FromInfo(infoBytes []byte, m *Magnet) (*MetaInfo, error) {
	if len(infoBytes) > MaxInfoSize {
		return nil, fmt.Errorf("info dictionary of %d bytes is over the %d-byte limit", len(infoBytes), MaxInfoSize)
	}
	if !m.Matches(infoBytes) {
		if m.HasV1() {
			return nil, fmt.Errorf("info dictionary hashes to %s, not to the magnet link's %s", Hash(sha1.Sum(infoBytes)), m.InfoHash)
		}
		return nil, fmt.Errorf("info dictionary hashes to %s (SHA-256), not to the magnet link's %s", Hash256(sha256.Sum256(infoBytes)), m.InfoHashV2)
	}
	if len(infoBytes) == 0 || infoBytes[0] != 'd' {
		return nil, fmt.Errorf("invalid 'info' dictionary: %w", bencbound.ErrNotDict)
	}
	// parseInfo checks the bytes as it decodes them, trailing bytes included.
	mi := &MetaInfo{InfoBytes: append([]byte(nil), infoBytes...)}
	if err := newDecoder().parseInfo(mi.InfoBytes, &mi.Info); err != nil {
		return nil, err
	}
	mi.setHashes()
	if m.HasV1() && !mi.HasV1() {
		return nil, fmt.Errorf("the magnet link names a v1 info-hash, but its info dictionary is v2-only")
	}
	for _, tr := range m.Trackers {
		mi.AnnounceList = append(mi.AnnounceList, []string{tr})
	}
	if len(m.Trackers) > 0 {
		mi.Announce = m.Trackers[0]
	}
	mi.URLList = append([]string(nil), m.WebSeeds...)
	return mi, nil
}
