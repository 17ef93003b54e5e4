package wire

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"testing"
)

func TestHandshakeRoundTrip(t *testing.T) {
	var h Handshake
	h.Reserved.SetFast(true)
	h.Reserved.SetExtended(true)
	h.Reserved.SetDHT(true)
	copy(h.InfoHash[:], "abcdefghijklmnopqrst")
	copy(h.PeerID[:], "-TF0001-123456789012")
	var buf bytes.Buffer
	if err := WriteHandshake(&buf, h); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != HandshakeLen {
		t.Fatalf("handshake is %d bytes, want %d", buf.Len(), HandshakeLen)
	}
	// Bits at the positions the BEPs give.
	raw := buf.Bytes()
	if raw[20+5] != 0x10 || raw[20+7] != 0x05 {
		t.Fatalf("reserved bytes %x", raw[20:28])
	}
	got, err := ReadHandshake(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got != h || !got.Reserved.Fast() || !got.Reserved.Extended() || !got.Reserved.DHT() {
		t.Fatalf("got %+v, want %+v", got, h)
	}
	got.Reserved.SetFast(false)
	if got.Reserved.Fast() {
		t.Fatal("SetFast(false) left the bit set")
	}
}

func TestHandshakeRejectsOtherProtocols(t *testing.T) {
	b := AppendHandshake(nil, Handshake{})
	b[5] = 'X'
	if _, err := ReadHandshake(bytes.NewReader(b)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("err = %v, want ErrHandshake", err)
	}
	if _, err := ReadHandshake(bytes.NewReader(b[:30])); err == nil {
		t.Fatal("short handshake accepted")
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	block := bytes.Repeat([]byte{7}, BlockSize)
	want := []Message{
		{ID: KeepAlive},
		{ID: Choke}, {ID: Unchoke}, {ID: Interested}, {ID: NotInterested},
		{ID: HaveAll}, {ID: HaveNone},
		{ID: Have, Index: 77}, {ID: Suggest, Index: 1}, {ID: AllowedFast, Index: 1 << 31},
		{ID: Request, Index: 3, Begin: 16384, Length: 16384},
		{ID: Cancel, Index: 4, Begin: 0, Length: 100},
		{ID: Reject, Index: 5, Begin: 32768, Length: 16384},
		{ID: Piece, Index: 9, Begin: 49152, Block: block},
		{ID: Bitfield, Payload: []byte{0xff, 0x80}},
		{ID: Port, Port: 6881},
		{ID: Extended, ExtID: 3, Payload: []byte("d1:ai1ee")},
	}
	var b []byte
	for _, m := range want {
		switch m.ID {
		case KeepAlive:
			b = AppendKeepAlive(b)
		case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
			b = AppendSimple(b, m.ID)
		case Have, Suggest, AllowedFast:
			b = AppendIndex(b, m.ID, m.Index)
		case Request, Cancel, Reject:
			b = AppendRequest(b, m.ID, m.Index, m.Begin, m.Length)
		case Piece:
			b = AppendPiece(b, m.Index, m.Begin, m.Block)
		case Bitfield:
			b = AppendBitfield(b, m.Payload)
		case Port:
			b = AppendPort(b, m.Port)
		case Extended:
			b = AppendExtended(b, m.ExtID, m.Payload)
		}
	}
	d := NewDecoder(bytes.NewReader(b), 0)
	for i, w := range want {
		var got Message
		if err := d.Decode(&got); err != nil {
			t.Fatalf("message %d (%v): %v", i, w.ID, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("message %d: got %v, want %v", i, &got, &w)
		}
	}
	var m Message
	if err := d.Decode(&m); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

func TestDecoderLimits(t *testing.T) {
	cases := map[string][]byte{
		"too long":       {0x7f, 0, 0, 0, byte(Bitfield)},
		"have too short": {0, 0, 0, 3, byte(Have), 0, 0},
		"request short":  {0, 0, 0, 5, byte(Request), 0, 0, 0, 0},
		"choke payload":  {0, 0, 0, 2, byte(Choke), 1},
		"piece no hdr":   {0, 0, 0, 5, byte(Piece), 0, 0, 0, 0},
		"truncated":      {0, 0, 0, 9, byte(Bitfield), 1},
		"empty extended": {0, 0, 0, 1, byte(Extended)},
	}
	for name, in := range cases {
		var m Message
		err := NewDecoder(bytes.NewReader(in), 0).Decode(&m)
		if err == nil || err == io.EOF {
			t.Errorf("%s: err = %v, want an error", name, err)
		}
	}
	d := NewDecoder(bytes.NewReader(AppendBitfield(nil, make([]byte, 100))), 0)
	d.MaxLength = 50
	var m Message
	if err := d.Decode(&m); !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func TestExtendedHandshake(t *testing.T) {
	h := ExtendedHandshake{
		M: map[string]int{ExtMetadata: 2, ExtPEX: 1},
		V: "torfs 0.1", P: 6881, Reqq: 500,
		YourIP: string([]byte{127, 0, 0, 1}), MetadataSize: 31337, E: 1,
	}
	b, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseExtendedHandshake(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, h) {
		t.Fatalf("got %+v, want %+v", *got, h)
	}
	if a, ok := got.YourAddr(); !ok || a != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("YourAddr = %v %v", a, ok)
	}
	// Unknown keys are ignored; a handshake from libtorrent carries many.
	lt := "d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei1234e1:pi6881e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent 2.0.8.06:yourip4:\x7f\x00\x00\x01e"
	got, err = ParseExtendedHandshake([]byte(lt))
	if err != nil {
		t.Fatal(err)
	}
	if got.M[ExtMetadata] != 2 || got.Reqq != 500 || got.P != 6881 || got.MetadataSize != 1234 || got.UploadOnly != 1 {
		t.Fatalf("libtorrent handshake parsed as %+v", got)
	}
	if got, err := ParseExtendedHandshake([]byte("d1:ei1e1:mdee")); err != nil || got.E != 1 {
		t.Fatalf("e key: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "le", "d4:reqqi-1ee", "d1:md1:xi300eee", "d1:m"} {
		if _, err := ParseExtendedHandshake([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMetadata(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1000)
	b, err := AppendMetadata(nil, MetadataMsg{Type: MetadataData, Piece: 3, TotalSize: 50000}, data)
	if err != nil {
		t.Fatal(err)
	}
	m, got, err := ParseMetadata(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != MetadataData || m.Piece != 3 || m.TotalSize != 50000 || !bytes.Equal(got, data) {
		t.Fatalf("got %+v with %d bytes", m, len(got))
	}
	b, _ = AppendMetadata(nil, MetadataMsg{Type: MetadataRequest, Piece: 1}, nil)
	if m, got, err = ParseMetadata(b); err != nil || m.Type != MetadataRequest || m.Piece != 1 || got != nil {
		t.Fatalf("request parsed as %+v %v %v", m, got, err)
	}
	if _, _, err := ParseMetadata([]byte("d8:msg_typei9e5:piecei0ee")); err == nil {
		t.Fatal("unknown msg_type accepted")
	}
}

func TestPEX(t *testing.T) {
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:6881"),
		netip.MustParseAddrPort("[2001:db8::1]:51413"),
		netip.MustParseAddrPort("192.168.1.2:1"),
	}
	v4, v6 := CompactPeers(addrs)
	p := PEX{Added: v4, AddedF: "\x02\x10", Added6: v6}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePEX(b)
	if err != nil {
		t.Fatal(err)
	}
	a4, err := ParseCompactPeers(got.Added, 4)
	if err != nil {
		t.Fatal(err)
	}
	a6, err := ParseCompactPeers(got.Added6, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(a4) != 2 || a4[0] != addrs[0] || a4[1] != addrs[2] || len(a6) != 1 || a6[0] != addrs[1] || got.AddedF != "\x02\x10" {
		t.Fatalf("got %v %v %+v", a4, a6, got)
	}
	if _, err := ParseCompactPeers("12345", 4); err == nil {
		t.Fatal("odd-length compact list accepted")
	}
}

func TestBits(t *testing.T) {
	b := NewBits(10)
	b.Set(0)
	b.Set(9)
	if !b.Has(0) || !b.Has(9) || b.Has(1) || b.Has(10) || b.Has(-1) {
		t.Fatalf("bits %x", []byte(b))
	}
	if b[0] != 0x80 || b[1] != 0x40 {
		t.Fatalf("bit order: %x", []byte(b))
	}
	if !b.Valid(10) || b.Valid(9) || b.Valid(17) {
		t.Fatal("Valid wrong")
	}
	b.Clear(9)
	if b.Has(9) {
		t.Fatal("Clear failed")
	}
}

func TestDecoderBlockBuffer(t *testing.T) {
	b := AppendPiece(nil, 3, 16384, []byte("hello"))
	b = AppendPiece(b, 4, 0, []byte("world"))
	dst := make([]byte, 5)
	d := NewDecoder(bytes.NewReader(b), 0)
	d.BlockBuffer = func(index, begin uint32, n int) []byte {
		if index == 3 && begin == 16384 && n == 5 {
			return dst
		}
		return nil
	}
	var m Message
	if err := d.Decode(&m); err != nil || string(dst) != "hello" || &m.Block[0] != &dst[0] {
		t.Fatalf("block not read into the caller's buffer: %v %q", err, dst)
	}
	if err := d.Decode(&m); err != nil || string(m.Block) != "world" || &m.Block[0] == &dst[0] {
		t.Fatalf("second block: %v %q", err, m.Block)
	}
}
