package fetch

import (
	"bytes"
	"testing"

	"github.com/torfs/torfs/wire"
)

// TestServeMetadata: a peer that joined by magnet link gets the info
// dictionary piece by piece (BEP 9).
func TestServeMetadata(t *testing.T) {
	mi, data := testTorrent(t, 256<<10, 64<<10)
	mi.InfoBytes = bytes.Repeat([]byte("d4:info"), 3000) // 21000 bytes: two pieces
	c := newTestClient(t, Config{})
	addTorrent(t, c, mi, newMemStorage(&mi.Info, data), TorrentOptions{})

	r, hs, err := dialRawExtended(t, c.Addr().String(), mi.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if !hs.Reserved.Extended() {
		t.Fatal("torfs does not announce the extension protocol")
	}
	mine := wire.ExtendedHandshake{M: map[string]int{wire.ExtMetadata: 3}}
	b, _ := mine.Encode()
	r.send(wire.AppendExtended(nil, 0, b))

	next := func() wire.Message {
		for {
			var m wire.Message
			if err := r.dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.ID == wire.Extended {
				m.Payload = bytes.Clone(m.Payload)
				return m
			}
		}
	}
	m := next()
	theirs, err := wire.ParseExtendedHandshake(m.Payload)
	if err != nil || m.ExtID != 0 {
		t.Fatalf("extended handshake %v: %v", &m, err)
	}
	id := theirs.M[wire.ExtMetadata]
	if id == 0 || theirs.MetadataSize != len(mi.InfoBytes) {
		t.Fatalf("handshake %+v: want ut_metadata and metadata_size %d", theirs, len(mi.InfoBytes))
	}
	var got []byte
	for piece := range 2 {
		req, _ := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: piece}, nil)
		r.send(wire.AppendExtended(nil, uint8(id), req))
		m := next()
		msg, part, err := wire.ParseMetadata(m.Payload)
		if err != nil || m.ExtID != 3 || msg.Type != wire.MetadataData || msg.Piece != piece || msg.TotalSize != len(mi.InfoBytes) {
			t.Fatalf("piece %d: %v %+v %v", piece, &m, msg, err)
		}
		got = append(got, part...)
	}
	if !bytes.Equal(got, mi.InfoBytes) {
		t.Fatal("metadata differs")
	}
	req, _ := wire.AppendMetadata(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: 2}, nil)
	r.send(wire.AppendExtended(nil, uint8(id), req))
	if msg, _, err := wire.ParseMetadata(next().Payload); err != nil || msg.Type != wire.MetadataReject {
		t.Fatalf("request past the end: %+v %v, want a reject", msg, err)
	}
}
