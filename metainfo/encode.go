package metainfo

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/zeebo/bencode"
)

// torrentFile is the top-level dictionary as written. Keys that are
// empty are left out, as mktorrent and libtorrent do.
type torrentFile struct {
	Announce     string             `bencode:"announce,omitempty"`
	AnnounceList [][]string         `bencode:"announce-list,omitempty"`
	Comment      string             `bencode:"comment,omitempty"`
	CreatedBy    string             `bencode:"created by,omitempty"`
	CreationDate int64              `bencode:"creation date,omitempty"`
	HTTPSeeds    []string           `bencode:"httpseeds,omitempty"`
	Info         bencode.RawMessage `bencode:"info"`
	Nodes        [][]any            `bencode:"nodes,omitempty"`
	PieceLayers  map[string][]byte  `bencode:"piece layers,omitempty"`
	URLList      any                `bencode:"url-list,omitempty"`
}

// Encode returns the .torrent file for m. The info dictionary is written
// as the bytes in InfoBytes, unchanged, so the info-hash is preserved;
// the other fields are written from m's fields.
func (m *MetaInfo) Encode() ([]byte, error) {
	if len(m.InfoBytes) == 0 {
		return nil, errors.New("encode torrent: no info dictionary (InfoBytes is empty)")
	}
	tf := torrentFile{
		Announce:  m.Announce,
		Comment:   m.Comment,
		CreatedBy: m.CreatedBy,
		HTTPSeeds: m.HTTPSeeds,
		Info:      bencode.RawMessage(m.InfoBytes),
	}
	if len(m.AnnounceList) > 0 {
		tf.AnnounceList = m.AnnounceList
		if tf.Announce == "" && len(m.AnnounceList[0]) > 0 {
			tf.Announce = m.AnnounceList[0][0]
		}
	}
	if !m.CreationDate.IsZero() {
		tf.CreationDate = m.CreationDate.Unix()
	}
	if len(m.PieceLayers) > 0 {
		tf.PieceLayers = make(map[string][]byte, len(m.PieceLayers))
		for root, layer := range m.PieceLayers {
			tf.PieceLayers[string(root[:])] = layer
		}
	}
	// A single web seed is written as a string, like mktorrent does.
	switch len(m.URLList) {
	case 0:
	case 1:
		tf.URLList = m.URLList[0]
	default:
		tf.URLList = m.URLList
	}
	for _, n := range m.Nodes {
		host, port, err := net.SplitHostPort(n)
		if err != nil {
			return nil, fmt.Errorf("encode torrent: DHT node %q: %w", n, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("encode torrent: DHT node %q: bad port", n)
		}
		tf.Nodes = append(tf.Nodes, []any{host, p})
	}
	b, err := bencode.EncodeBytes(tf)
	if err != nil {
		return nil, fmt.Errorf("encode torrent: %w", err)
	}
	return b, nil
}
