package mount

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/torfs/torfs/fetch"
)

// Status is a snapshot of a Session for `torfs status` and the status
// page.
type Status struct {
	Listen string `json:"listen"`
	// PortMapping says whether the router forwards the listening port,
	// and by what (UPnP IGD or NAT-PMP); empty when port mapping is off.
	PortMapping string `json:"port_mapping,omitempty"`
	// DHTNodes counts the nodes in the DHT routing tables by family,
	// "ipv4" and "ipv6" (a dual-stack host runs a node of each, BEP 32);
	// absent while the DHT is off or not started.
	DHTNodes map[string]int `json:"dht_nodes,omitempty"`
	// The cache use on disk of all the torrents, and their budget: the
	// one they share (CacheShared, a mount of a directory) or the sum of
	// their own (0 when any is unlimited).
	CacheUsed   int64           `json:"cache_used"`
	CacheBudget int64           `json:"cache_budget"`
	CacheShared bool            `json:"cache_shared,omitempty"`
	Torrents    []TorrentStatus `json:"torrents"`
	// Resolving are the magnet links whose metadata is being fetched.
	Resolving []ResolvingStatus `json:"resolving,omitempty"`
}

// ResolvingStatus describes a magnet link whose metadata is being
// fetched, or a v2-only .torrent whose missing piece hashes are (or
// whose resolution stopped, State "failed"; "resolved" is never listed:
// the torrent is, instead).
type ResolvingStatus struct {
	Name     string `json:"name"`
	InfoHash string `json:"info_hash"`
	// State is "resolving metadata" (piece hashes too) or "failed".
	State string `json:"state"`
	// Peers known, peers connected, metadata pieces received and
	// expected (0 while the size is not known).
	Peers     int `json:"peers"`
	Connected int `json:"connected"`
	Have      int `json:"have"`
	Total     int `json:"total"`
	// Parts of the piece hashes of a v2-only torrent received and
	// expected (BEP 52 hash requests; 0 before they are asked for).
	HashParts      int `json:"hash_parts,omitempty"`
	HashPartsTotal int `json:"hash_parts_total,omitempty"`
	// LastError is why the last attempt failed, or why it stopped.
	LastError string `json:"last_error,omitempty"`
	// Seconds since the resolution started.
	Seconds float64 `json:"seconds"`
	// Message is the one-line summary the placeholder file starts with.
	Message string `json:"message"`
}

// TorrentStatus describes one torrent.
type TorrentStatus struct {
	Name     string `json:"name"`
	InfoHash string `json:"info_hash"`
	Length   int64  `json:"length"`
	Verified int64  `json:"verified"`
	// Rates in bytes per second; totals in bytes for this session.
	DownloadRate float64 `json:"download_rate"`
	UploadRate   float64 `json:"upload_rate"`
	Downloaded   int64   `json:"downloaded"`
	Uploaded     int64   `json:"uploaded"`
	// Cache use on disk against the budget (0 = unlimited), the one
	// the mount's torrents share when Status.CacheShared.
	CacheUsed   int64  `json:"cache_used"`
	CacheBudget int64  `json:"cache_budget"`
	Evictions   int64  `json:"evictions"`
	CacheDir    string `json:"cache_dir"`
	// DiskFull, when set, says that the disk under the cache filled up,
	// naming it and the sizes: reads that no longer fit fail (EIO).
	DiskFull string `json:"cache_disk_full,omitempty"`
	// Wasted counts bytes received that could not be used.
	Wasted int64 `json:"wasted"`
	// Readers are the streams open on the torrent (files open in the
	// mount); Stalls counts their reads that ended for want of progress.
	Readers int   `json:"readers"`
	Stalls  int64 `json:"stalls"`
	// PieceLength is the size of every piece but the last; PieceCounts
	// counts the pieces (their sum) by state, and PieceMap says each
	// one's state, run-length encoded: each run is its length in decimal
	// (left out when 1) and then its state, v verified, d downloading, w
	// wanted by a reader, e evicted, . missing ("3v.2d" is v v v . d d).
	PieceLength int64        `json:"piece_length"`
	PieceCounts PieceCounts  `json:"piece_counts"`
	PieceMap    string       `json:"piece_map"`
	Peers       []PeerStatus `json:"peers"`
	Files       []FileStatus `json:"files"`
}

// PeerStatus is one connected peer (fetch.PeerStats under the status
// page's snake_case keys).
type PeerStatus struct {
	Addr      string `json:"addr"`
	Client    string `json:"client"`    // from the peer id, e.g. "TF0001", "LT2080"
	Transport string `json:"transport"` // "tcp" or "utp"
	Encrypted bool   `json:"encrypted"` // RC4-encrypted (MSE/PE)
	Pieces    int    `json:"pieces"`    // pieces the peer has
	Seed      bool   `json:"seed"`
	// Rates in bytes per second, totals in bytes.
	DownloadRate float64 `json:"download_rate"`
	UploadRate   float64 `json:"upload_rate"`
	Downloaded   int64   `json:"downloaded"`
	Uploaded     int64   `json:"uploaded"`
	Choked       bool    `json:"choked"`     // we choke it
	Choking      bool    `json:"choking"`    // it chokes us
	Interested   bool    `json:"interested"` // it wants our pieces
	Requests     int     `json:"requests"`   // our requests in flight
}

func peerStatus(p fetch.PeerStats) PeerStatus {
	return PeerStatus{Addr: p.Addr, Client: p.Client, Transport: p.Transport, Encrypted: p.Encrypted, Pieces: p.Pieces, Seed: p.Seed,
		DownloadRate: p.DownloadRate, UploadRate: p.UploadRate, Downloaded: p.Downloaded, Uploaded: p.Uploaded,
		Choked: p.Choked, Choking: p.Choking, Interested: p.Interested, Requests: p.Requests}
}

// FileStatus is one file's progress.
type FileStatus struct {
	Path     string `json:"path"`
	Length   int64  `json:"length"`
	Verified int64  `json:"verified"`
	// FirstPiece is the piece the file starts in; PieceMap, encoded as
	// TorrentStatus.PieceMap, covers the pieces the file spans (none for
	// an empty file).
	FirstPiece int    `json:"first_piece"`
	PieceMap   string `json:"piece_map"`
	// URL is the path the file is streamed at over HTTP (StreamPath).
	URL string `json:"url"`
}

// Status returns a snapshot of every torrent, sorted by name.
func (s *Session) Status() Status {
	s.mu.Lock()
	ts := make([]*Served, 0, len(s.torrents))
	for _, t := range s.torrents {
		ts = append(ts, t)
	}
	rs := make([]*resolution, 0, len(s.resolving))
	for _, r := range s.resolving {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	slices.SortFunc(ts, func(a, b *Served) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(rs, func(a, b *resolution) int { return strings.Compare(a.name, b.name) })
	st := Status{Listen: s.client.Addr().String(), PortMapping: s.client.PortMapping(), DHTNodes: s.client.DHTNodes()}
	unlimited := false
	for _, t := range ts {
		ts := t.status()
		st.Torrents = append(st.Torrents, ts)
		st.CacheUsed += ts.CacheUsed
		st.CacheBudget += ts.CacheBudget
		unlimited = unlimited || ts.CacheBudget == 0
	}
	if unlimited {
		st.CacheBudget = 0
	}
	s.mu.Lock()
	pool := s.pool
	s.mu.Unlock()
	if pool != nil {
		st.CacheShared, st.CacheUsed, st.CacheBudget = true, pool.Used(), pool.Budget()
	}
	for _, r := range rs {
		st.Resolving = append(st.Resolving, r.status())
	}
	return st
}

func (t *Served) status() TorrentStatus {
	fs := t.tor.Stats()
	cs := t.cache.Stats()
	info := &t.Meta.Info
	// One buffer per torrent for the states, reused from call to call:
	// the answer costs its encoded maps, not a byte per piece.
	t.mapMu.Lock()
	defer t.mapMu.Unlock()
	t.states = t.tor.PieceStates(t.states[:0])
	ts := TorrentStatus{
		Name: t.Name, InfoHash: t.Meta.InfoHash.String(), Length: fs.Length, Verified: fs.VerifiedBytes,
		DownloadRate: fs.DownloadRate, UploadRate: fs.UploadRate, Downloaded: fs.Downloaded, Uploaded: fs.Uploaded,
		CacheUsed: cs.Used, CacheBudget: cs.Budget, Evictions: cs.Evictions, CacheDir: t.Dir,
		Wasted: fs.Wasted, Readers: fs.Readers, Stalls: fs.Stalls,
		PieceLength: info.PieceLength, PieceCounts: countPieces(t.states), PieceMap: encodePieceMap(t.states),
		Peers: make([]PeerStatus, 0, len(fs.Peers)),
	}
	for _, p := range fs.Peers {
		ts.Peers = append(ts.Peers, peerStatus(p))
	}
	if err := t.tor.DiskFull(); err != nil {
		ts.DiskFull = err.Error()
	}
	for _, f := range info.Files {
		if f.Pad || f.Symlink != nil {
			continue
		}
		first, last := info.PieceRange(f.Offset, f.Length)
		fs := FileStatus{Path: strings.Join(f.Path, "/"), Length: f.Length,
			Verified:   t.tor.VerifiedBytes(f.Offset, f.Length),
			FirstPiece: first, URL: StreamPath(ts.InfoHash, f.Path)}
		if first <= last && last < len(t.states) {
			fs.PieceMap = encodePieceMap(t.states[first : last+1])
		}
		ts.Files = append(ts.Files, fs)
	}
	return ts
}

// StatusHandler serves Status as JSON.
func (s *Session) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status())
	})
}
