package metainfo

import (
	"crypto/sha1"
	"fmt"

	"github.com/torfs/torfs/internal/bencbound"
)

// MaxInfoSize bounds an info dictionary fetched from peers (BEP 9): the
// largest real ones are a few MiB, and a peer's claimed size must not make
// us allocate more than this.
const MaxInfoSize = maxTorrentFile

// FromInfo builds a MetaInfo from the bytes of an info dictionary fetched
// by magnet link. The bytes must hash to m.InfoHash and are parsed exactly
// as a .torrent file's info dictionary is. The magnet's trackers become
// the announce list, each its own tier (every tr is an alternative the
// link's author listed; BEP 12 tiers of one try them all), and its web
// seeds the URL list.
func FromInfo(infoBytes []byte, m *Magnet) (*MetaInfo, error) {
	if len(infoBytes) > MaxInfoSize {
		return nil, fmt.Errorf("info dictionary of %d bytes is over the %d-byte limit", len(infoBytes), MaxInfoSize)
	}
	if h := Hash(sha1.Sum(infoBytes)); h != m.InfoHash {
		return nil, fmt.Errorf("info dictionary hashes to %s, not to the magnet link's %s", h, m.InfoHash)
	}
	if len(infoBytes) == 0 || infoBytes[0] != 'd' {
		return nil, fmt.Errorf("invalid 'info' dictionary: %w", bencbound.ErrNotDict)
	}
	// parseInfo checks the bytes as it decodes them, trailing bytes included.
	mi := &MetaInfo{InfoHash: m.InfoHash, InfoBytes: append([]byte(nil), infoBytes...)}
	if err := newDecoder().parseInfo(mi.InfoBytes, &mi.Info); err != nil {
		return nil, err
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
