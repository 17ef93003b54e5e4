package fetch

import "github.com/torfs/torfs/mse"

// Stats is a snapshot of a torrent session for status displays.
type Stats struct {
	Pieces         int   // total pieces
	VerifiedPieces int   // pieces verified
	VerifiedBytes  int64 // bytes verified
	Length         int64 // torrent size
	// Uploaded and Downloaded count payload bytes in this session;
	// Wasted counts bytes received that could not be used.
	Uploaded, Downloaded, Wasted int64
	// Rejected counts our block requests that peers rejected; Skipped
	// those still unanswered a while after later ones were answered,
	// which are cancelled and asked for again.
	Rejected, Skipped int
	// DownloadRate and UploadRate are bytes per second, smoothed.
	DownloadRate, UploadRate float64
	Seeds                    int // connected peers with every piece
	// Readers are the Readers open (streams); Stalls counts their reads
	// that ended with ErrStalled.
	Readers int
	Stalls  int64
	Peers   []PeerStats
}

// PeerStats describes one connection.
type PeerStats struct {
	Addr         string
	Client       string // from the peer id, e.g. "TF0001", "LT2080"
	Transport    string // what carries the connection: "tcp", "utp"
	Encrypted    bool   // the connection is RC4-encrypted (MSE/PE)
	Pieces       int    // pieces the peer has
	Seed         bool
	DownloadRate float64 // bytes/s from the peer
	UploadRate   float64 // bytes/s to the peer
	Downloaded   int64   // bytes received from the peer
	Uploaded     int64   // bytes sent to the peer
	Choked       bool    // we choke it
	Choking      bool    // it chokes us
	Interested   bool    // it wants our pieces
	Requests     int     // our requests in flight
}

// Stats returns a snapshot.
func (t *Torrent) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Stats{
		Pieces:         len(t.state),
		VerifiedPieces: t.haveCount,
		Length:         t.info.Length,
		Uploaded:       t.uploaded.Load(),
		Downloaded:     t.downloaded.Load(),
		Wasted:         t.wasted.Load(),
		Seeds:          t.seeds,
		Rejected:       t.rejected,
		Skipped:        t.skipped,
		Readers:        len(t.readers),
		Stalls:         t.stalls.Load(),
	}
	s.VerifiedBytes = t.st.VerifiedBytes(0, t.info.Length)
	for p := range t.peers {
		ps := PeerStats{
			Addr: p.addr, Client: clientName(p.id), Transport: p.transport, Encrypted: mse.IsEncrypted(p.conn),
			Pieces: p.numHave, Seed: p.seed,
			DownloadRate: p.downRate, UploadRate: p.upRate,
			Downloaded: p.downBytes.Load(), Uploaded: p.upBytes.Load(),
			Choked: p.amChoking, Choking: p.peerChoking, Interested: p.peerInterested,
			Requests: len(p.reqs),
		}
		if p.seed {
			ps.Pieces = len(t.state)
		}
		s.DownloadRate += p.downRate
		s.UploadRate += p.upRate
		s.Peers = append(s.Peers, ps)
	}
	return s
}
