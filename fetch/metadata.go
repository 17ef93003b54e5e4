package fetch

import (
	"fmt"

	"github.com/torfs/torfs/wire"
)

// extMetadataID is the message ID peers use to send us ut_metadata
// messages (our choice, announced in our extended handshake).
const extMetadataID = 2

// servesMetadata reports whether we hand the info dictionary to peers that
// joined by magnet link (BEP 9). Private torrents keep it to their
// tracker's members.
func (t *Torrent) servesMetadata() bool {
	return len(t.mi.InfoBytes) > 0 && !t.info.Private
}

// onMetadata answers a peer's ut_metadata request with the piece of the
// info dictionary it asked for, or a reject.
func (p *peer) onMetadata(payload []byte) error {
	msg, _, err := wire.ParseMetadata(payload)
	if err != nil {
		return err
	}
	if msg.Type != wire.MetadataRequest {
		return nil // we never request, so data and rejects are unsolicited
	}
	t := p.t
	t.mu.Lock()
	id := p.metadataID
	t.mu.Unlock()
	if id == 0 {
		return fmt.Errorf("ut_metadata request from a peer that did not announce ut_metadata")
	}
	info := t.mi.InfoBytes
	reply := wire.MetadataMsg{Type: wire.MetadataReject, Piece: msg.Piece}
	var data []byte
	if start, end, ok := metadataPiece(msg.Piece, len(info)); ok && t.servesMetadata() {
		reply.Type, reply.TotalSize = wire.MetadataData, len(info)
		data = info[start:end]
	}
	body, err := wire.AppendMetadata(nil, reply, data)
	if err != nil {
		return err
	}
	p.queue(func(b []byte) []byte { return wire.AppendExtended(b, uint8(id), body) })
	return nil
}

// metadataPiece is the byte range of ut_metadata piece i of an info
// dictionary of size bytes. The piece number comes from the peer: it is
// compared with the piece count before any multiplication, which a huge
// number would overflow.
func metadataPiece(i, size int) (start, end int, ok bool) {
	n := (size + wire.MetadataPieceSize - 1) / wire.MetadataPieceSize
	if i < 0 || i >= n {
		return 0, 0, false
	}
	start = i * wire.MetadataPieceSize
	return start, min(start+wire.MetadataPieceSize, size), true
}
