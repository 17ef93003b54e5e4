package fetch

import (
	"sync"

	"github.com/torfs/torfs/metainfo"
	"github.com/torfs/torfs/wire"
)

// BEP 52 peers (libtorrent with a magnet link) ask for the piece layers
// they lack with hash requests. A session answers them from the piece
// layers it holds, with each file's tree above its piece layer built on
// the first request for it; anything else gets a hash reject.

// hashTrees holds the trees built so far, one per file at most.
type hashTrees struct {
	mu    sync.Mutex
	trees map[metainfo.Hash256]*metainfo.HashTree
	// files maps each pieces root to its file, built on the first
	// request, so that a peer naming roots no file has costs a lookup,
	// not a walk over the torrent's files.
	files map[metainfo.Hash256]*metainfo.File
}

// hashTree returns the tree of the file whose pieces root is root, or nil
// when no file has that root or its piece layer is not known. Only real
// files are remembered, so a peer naming random roots grows nothing.
func (t *Torrent) hashTree(root metainfo.Hash256) *metainfo.HashTree {
	ht := &t.hashTrees
	ht.mu.Lock()
	defer ht.mu.Unlock()
	if tree, ok := ht.trees[root]; ok {
		return tree
	}
	if ht.files == nil {
		ht.files = map[metainfo.Hash256]*metainfo.File{}
		for i := range t.info.Files {
			f := &t.info.Files[i]
			if _, dup := ht.files[f.PiecesRoot]; !dup && f.PiecesRoot != (metainfo.Hash256{}) {
				ht.files[f.PiecesRoot] = f
			}
		}
	}
	file := ht.files[root]
	if file == nil {
		return nil
	}
	var tree *metainfo.HashTree
	if layer, ok := t.mi.PieceLayers[root]; ok && file.Length > t.info.PieceLength {
		var err error
		if tree, err = metainfo.NewHashTree(root, layer, t.info.PieceLength, file.Length); err != nil {
			t.log.Debug("cannot serve the piece hashes of a file", "root", root, "err", err)
		}
	}
	if ht.trees == nil {
		ht.trees = map[metainfo.Hash256]*metainfo.HashTree{}
	}
	ht.trees[root] = tree
	return tree
}

// onHashRequest answers a BEP 52 hash request with the hashes asked for,
// or with a hash reject for a torrent without v2 hashes, a root that is
// no file's, a file whose piece layer we lack, block hashes (we hold
// none) or a run out of bounds (metainfo.HashTree.Hashes). An answer is
// at most 8192 hashes; a peer that asks faster than it reads is dropped
// by queue.
func (p *peer) onHashRequest(m *wire.Message) {
	h := m.Hash
	var ans []byte
	var err error = errNoTree
	if p.t.info.V2 {
		if tree := p.t.hashTree(h.Root); tree != nil {
			ans, err = tree.Hashes(nil, hashRun(h))
		}
	}
	if err != nil {
		p.t.log.Debug("hash request rejected", "peer", p.addr, "request", m.String(), "reason", err)
		p.queue(func(b []byte) []byte { return wire.AppendHashRequest(b, wire.HashReject, h) })
		return
	}
	p.t.log.Debug("hash request answered", "peer", p.addr, "request", m.String())
	p.queue(func(b []byte) []byte { return wire.AppendHashes(b, h, ans) })
}

type noTreeError struct{}

func (noTreeError) Error() string { return "no piece layer known for that pieces root" }

var errNoTree error = noTreeError{}

// hashRun is the run a hash message names. Numbers beyond int32 become
// negative or huge and fail the run's checks.
func hashRun(h wire.HashRange) metainfo.HashRun {
	return metainfo.HashRun{
		Root: metainfo.Hash256(h.Root), Base: int(int32(h.BaseLayer)), Index: int(int32(h.Index)),
		Length: int(int32(h.Length)), ProofLayers: int(int32(h.ProofLayers)),
	}
}

// hashRange is the wire form of r.
func hashRange(r metainfo.HashRun) wire.HashRange {
	return wire.HashRange{
		Root: r.Root, BaseLayer: uint32(r.Base), Index: uint32(r.Index),
		Length: uint32(r.Length), ProofLayers: uint32(r.ProofLayers),
	}
}
