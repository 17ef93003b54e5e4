package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// maxTorrentFile bounds what Load reads: the largest real torrents (many
// thousands of files, tens of thousands of pieces) are a few MiB.
const maxTorrentFile = 64 << 20

// Load reads and parses the .torrent file at path.
func Load(path string) (*MetaInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open torrent: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open torrent: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a .torrent file", path)
	}
	if st.Size() > maxTorrentFile {
		return nil, fmt.Errorf("%s is %d bytes, too large for a .torrent file (limit %d)", path, st.Size(), maxTorrentFile)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read torrent %s: %w", path, err)
	}
	mi, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}

// rawTorrent is the top-level dictionary with every field kept raw so
// each can be checked on its own.
type rawTorrent struct {
	Info         bencode.RawMessage `bencode:"info"`
	Announce     bencode.RawMessage `bencode:"announce"`
	AnnounceList bencode.RawMessage `bencode:"announce-list"`
	URLList      bencode.RawMessage `bencode:"url-list"`
	HTTPSeeds    bencode.RawMessage `bencode:"httpseeds"`
	Nodes        bencode.RawMessage `bencode:"nodes"`
	Comment      bencode.RawMessage `bencode:"comment"`
	CommentUTF8  bencode.RawMessage `bencode:"comment.utf-8"`
	CreatedBy    bencode.RawMessage `bencode:"created by"`
	CreationDate bencode.RawMessage `bencode:"creation date"`
	PieceLayers  bencode.RawMessage `bencode:"piece layers"`
}

// Parse parses the bytes of a .torrent file. Bytes after the top-level
// dictionary are ignored. Optional fields of the wrong type are ignored;
// problems with the info dictionary are errors naming the field.
func Parse(data []byte) (*MetaInfo, error) {
	d := newDecoder()
	var rt rawTorrent
	_, err := d.bd.DecodeDict(data, &rt)
	if errors.Is(err, bencbound.ErrNotDict) {
		return nil, errNotDict
	}
	if err != nil {
		return nil, fmt.Errorf("invalid torrent file: %w", err)
	}
	if len(rt.Info) == 0 || rt.Info[0] != 'd' {
		return nil, fmt.Errorf("invalid torrent file: missing or invalid 'info' dictionary")
	}
	mi := &MetaInfo{InfoBytes: []byte(rt.Info)}
	if err := d.parseInfo(mi.InfoBytes, &mi.Info); err != nil {
		return nil, err
	}
	mi.setHashes()
	if mi.HasV2() {
		if mi.PieceLayers, err = d.parsePieceLayers(rt.PieceLayers, &mi.Info); err != nil {
			return nil, err
		}
	}
	if s, ok := d.asString(rt.Announce); ok {
		mi.Announce = strings.TrimSpace(s)
	}
	mi.AnnounceList = d.parseTiers(rt.AnnounceList)
	mi.URLList = d.parseURLs(rt.URLList)
	mi.HTTPSeeds = d.parseURLs(rt.HTTPSeeds)
	mi.Nodes = d.parseNodes(rt.Nodes)
	if s, ok := d.asString(rt.CommentUTF8); ok {
		mi.Comment = s
	} else if s, ok := d.asString(rt.Comment); ok {
		mi.Comment = s
	}
	mi.CreatedBy, _ = d.asString(rt.CreatedBy)
	if sec, ok := d.asInt(rt.CreationDate); ok && sec > 0 && sec < 1<<40 {
		mi.CreationDate = time.Unix(sec, 0).UTC()
	}
	return mi, nil
}

// setHashes computes the info-hashes of InfoBytes for the versions the
// torrent has.
func (m *MetaInfo) setHashes() {
	if m.HasV2() {
		m.InfoHashV2 = sha256.Sum256(m.InfoBytes)
	}
	if m.HasV1() {
		m.InfoHash = sha1.Sum(m.InfoBytes)
	} else {
		m.InfoHash = m.InfoHashV2.Truncated()
	}
}

// parseTiers reads a BEP 12 announce-list, dropping entries that are not
// strings, blank URLs, duplicates and tiers left empty.
func (d *decoder) parseTiers(raw bencode.RawMessage) [][]string {
	l, ok := d.asList(raw)
	if !ok {
		return nil
	}
	seen := make(map[string]bool)
	var tiers [][]string
	for _, t := range l {
		urls, ok := d.asList(t)
		if !ok {
			continue
		}
		var tier []string
		for _, u := range urls {
			s, ok := d.asString(u)
			s = strings.TrimSpace(s)
			if !ok || s == "" || seen[s] {
				continue
			}
			seen[s] = true
			tier = append(tier, s)
		}
		if len(tier) > 0 {
			tiers = append(tiers, tier)
		}
	}
	return tiers
}

// parseURLs reads a url-list or httpseeds value: one string or a list;
// entries that are not non-blank strings are skipped, duplicates dropped.
func (d *decoder) parseURLs(raw bencode.RawMessage) []string {
	var cands []string
	if s, ok := d.asString(raw); ok {
		cands = []string{s}
	} else if l, ok := d.asList(raw); ok {
		for _, e := range l {
			if s, ok := d.asString(e); ok {
				cands = append(cands, s)
			}
		}
	}
	var out []string
	for _, s := range cands {
		s = strings.TrimSpace(s)
		if s == "" || contains(out, s) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// parseNodes reads BEP 5 nodes, a list of [host, port] pairs.
func (d *decoder) parseNodes(raw bencode.RawMessage) []string {
	l, ok := d.asList(raw)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range l {
		pair, ok := d.asList(e)
		if !ok || len(pair) != 2 {
			continue
		}
		host, ok1 := d.asString(pair[0])
		port, ok2 := d.asInt(pair[1])
		if !ok1 || !ok2 || host == "" || port <= 0 || port > 65535 {
			continue
		}
		out = append(out, net.JoinHostPort(host, strconv.FormatInt(port, 10)))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
