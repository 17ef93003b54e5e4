package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// A v2-only torrent's metadata (from a magnet link), or a .torrent whose
// 'piece layers' leave files out, lacks piece hashes the session needs
// to verify pieces. The resolver then goes on to ask its peers for them
// with BEP 52 hash requests, a part of up to 512 hashes of a file at a
// time with its proof up to the file's pieces root, and trusts only what
// that proof verifies: a peer whose hashes do not is banned like a peer
// that sends corrupt data.

// maxHashReqs is how many hash requests we keep outstanding per peer.
const maxHashReqs = 2

// layerFetch is the piece-layer phase of a resolver.
type layerFetch struct {
	mi    *metainfo.MetaInfo
	parts []*layerPart
	byRun map[metainfo.HashRun]*layerPart // the parts by what they ask for
	have  int                             // parts verified
}

// layerPart is one run of a file's piece layer to fetch.
type layerPart struct {
	run      metainfo.HashRun
	fileLen  int64
	hashes   []byte // verified, the file's pieces only; nil until then
	asked    *metaConn
	sentAt   time.Time
	refusers map[*metaConn]bool // peers that rejected it
}

// ResolveLayers asks the swarm of mi, a v2-only torrent whose piece
// layers are incomplete (metainfo.MetaInfo.HasAllHashesV2 false), for the
// piece hashes it lacks (BEP 52 hash requests), verifies them against
// each file's pieces root and adds them to mi.PieceLayers. Peers come
// from mi's trackers, opts (Trackers, Peers) and the DHT, as in Resolve,
// and so does progress. It returns the peer addresses found, for
// AddTorrent. A torrent that lacks nothing returns at once.
func (c *Client) ResolveLayers(ctx context.Context, mi *metainfo.MetaInfo, opts TorrentOptions, progress func(ResolveStatus)) ([]string, error) {
	if CheckSupported(mi) == nil {
		return nil, nil
	}
	m := mi.Magnet()
	_, peers, err := c.resolve(ctx, m, opts, progress, mi)
	return peers, err
}

// startLayers begins the piece-layer phase for mi, or ends the resolve
// when mi needs no hashes.
func (r *resolver) startLayers(mi *metainfo.MetaInfo) {
	if CheckSupported(mi) == nil {
		r.result = mi
		return
	}
	lf := &layerFetch{mi: mi, byRun: map[metainfo.HashRun]*layerPart{}}
	if mi.PieceLayers == nil {
		mi.PieceLayers = map[metainfo.Hash256][]byte{}
	}
	// The layers mi has were checked against their roots when parsed.
	for _, f := range mi.FilesLackingLayers() {
		for _, run := range metainfo.LayerParts(f.PiecesRoot, mi.Info.PieceLength, f.Length) {
			part := &layerPart{run: run, fileLen: f.Length, refusers: map[*metaConn]bool{}}
			lf.parts = append(lf.parts, part)
			lf.byRun[run] = part
		}
	}
	r.layers = lf
	r.c.log.Info("asking peers for the piece hashes the metadata lacks (BEP 52)", "torrent", mi.Info.Name, "parts", len(lf.parts))
	r.finishLayers()
}

// requestLayers hands parts nobody is asked for to peers that have not
// refused them.
func (r *resolver) requestLayers() {
	lf := r.layers
	if lf == nil || r.result != nil {
		return
	}
	free := 0
	for mc := range r.conns {
		if !mc.closing {
			free += max(0, maxHashReqs-mc.hashReqs)
		}
	}
	now := time.Now()
	for _, part := range lf.parts {
		if free == 0 {
			return
		}
		if part.hashes != nil || part.asked != nil {
			continue
		}
		for mc := range r.conns {
			if mc.closing || mc.hashReqs >= maxHashReqs || part.refusers[mc] {
				continue
			}
			part.asked, part.sentAt = mc, now
			mc.hashReqs++
			free--
			mc.send(wire.AppendHashRequest(nil, wire.HashRequest, hashRange(part.run)))
			break
		}
	}
}

// findPart returns the part mc was asked for that h names.
func (r *resolver) findPart(mc *metaConn, h wire.HashRange) *layerPart {
	if r.layers == nil {
		return nil
	}
	if part := r.layers.byRun[hashRun(h)]; part != nil && part.asked == mc {
		return part
	}
	return nil
}

// unask takes part back from the peer it was asked of.
func (part *layerPart) unask() {
	if part.asked != nil {
		part.asked.hashReqs--
		part.asked = nil
	}
}

func (r *resolver) onHashes(mc *metaConn, h wire.HashRange, data []byte) {
	part := r.findPart(mc, h)
	if mc.closing || part == nil {
		return // late, or never asked for
	}
	part.unask()
	hashes, err := metainfo.VerifyLayerPart(part.run, r.layers.mi.Info.PieceLength, part.fileLen, data)
	if err != nil && !errors.Is(err, metainfo.ErrBadHashes) {
		// Our request was at fault, not the peer: ask nobody for it again
		// through this peer, and let the error say so if time runs out.
		r.c.log.Error("a piece hash request torfs made is invalid", "peer", mc.addr, "err", err)
		part.refusers[mc] = true
		r.lastErr = "asking for piece hashes: " + err.Error()
		return
	}
	if err != nil {
		// The same words as a session's ban of a peer whose data fails
		// its hash: the proof up to the pieces root cannot fail by chance.
		r.c.log.Warn("banning a peer that sent corrupt data", "peer", mc.addr, "what", "piece hashes", "err", err)
		r.drop(mc, "peer sent piece hashes that do not hash up to the file's pieces root", neverAgain)
		return
	}
	part.hashes = hashes
	r.layers.have++
	r.finishLayers()
}

func (r *resolver) onHashReject(mc *metaConn, h wire.HashRange) {
	part := r.findPart(mc, h)
	if part == nil {
		return
	}
	part.unask()
	part.refusers[mc] = true
	r.lastErr = mc.addr.String() + ": peer refused a request for piece hashes"
}

// finishLayers assembles the layers once every part is verified.
func (r *resolver) finishLayers() {
	lf := r.layers
	if lf.have < len(lf.parts) {
		return
	}
	for _, part := range lf.parts {
		root := part.run.Root
		lf.mi.PieceLayers[root] = append(lf.mi.PieceLayers[root], part.hashes...)
	}
	if !lf.mi.HasAllHashesV2() {
		r.fatal = fmt.Errorf("%s: the piece hashes received do not cover every piece: %w", lf.mi.Info.Name, metainfo.ErrV2Only)
		return
	}
	r.result = lf.mi
}

// dropLayers takes back the parts asked of mc, which is going away.
func (r *resolver) dropLayers(mc *metaConn) {
	if r.layers == nil {
		return
	}
	for _, part := range r.layers.parts {
		if part.asked == mc {
			part.unask()
		}
		delete(part.refusers, mc)
	}
}

// expireLayers drops a peer that leaves a hash request unanswered.
func (r *resolver) expireLayers(now time.Time) {
	if r.layers == nil {
		return
	}
	for _, part := range r.layers.parts {
		if mc := part.asked; mc != nil && now.Sub(part.sentAt) > metaRequestTimeout {
			r.drop(mc, "peer did not answer a hash request", 30*time.Second)
		}
	}
}

// layersFailure says how far the piece-layer phase got, for the error
// when time runs out.
func (r *resolver) layersFailure(last string) string {
	lf := r.layers
	refused := 0
	for _, part := range lf.parts {
		if part.hashes == nil && len(part.refusers) > 0 {
			refused++
		}
	}
	s := fmt.Sprintf("the metadata lacks piece hashes (a v2-only torrent): received %d of %s of them from peers",
		lf.have, plural.Count(len(lf.parts), "part", "parts"))
	if refused > 0 {
		s += fmt.Sprintf(", %d refused by every peer asked", refused)
	}
	return s + last
}

// answerHashRequest refuses a peer's hash request: a resolver holds no
// hashes to give.
func (r *resolver) answerHashRequest(mc *metaConn, h wire.HashRange) {
	if !mc.closing {
		mc.send(wire.AppendHashRequest(nil, wire.HashReject, h))
	}
}
