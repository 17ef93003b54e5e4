package fetch

import (
	"context"
	"errors"

	"github.com/torfs/torfs/metainfo"
)

// ResolveStatus is the progress of a metadata lookup.
type ResolveStatus struct {
	Peers     int    // addresses known
	Connected int    // peers connected now
	Have      int    // metadata pieces received
	Total     int    // metadata pieces expected; 0 = size not known yet
	LastError string // why the last attempt failed, for the user
}

// Resolve fetches the info dictionary of a magnet link from its swarm
// (BEP 9), with peers from the link's x.pe and trackers, opts and the
// DHT, and verifies it against the info-hash. It returns the torrent and
// the peer addresses it found, to pass to AddTorrent. progress, when not
// nil, is called whenever the status changes.
func (c *Client) Resolve(ctx context.Context, m *metainfo.Magnet, opts TorrentOptions, progress func(ResolveStatus)) (*metainfo.MetaInfo, []string, error) {
	return nil, nil, errors.New("resolving magnet links is not built yet")
}
