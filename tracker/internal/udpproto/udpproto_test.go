package udpproto

import (
	"errors"
	"reflect"
	"testing"
)

func TestAnnounceRoundTrip(t *testing.T) {
	in := Announce{
		ConnID: 0x0102030405060708, TxID: 9,
		InfoHash: [20]byte{1, 2, 3}, PeerID: [20]byte{'-', 'T'},
		Downloaded: 10, Left: 1 << 40, Uploaded: 30,
		Event: EventStopped, IP: [4]byte{10, 0, 0, 1}, Key: 0xbeef, NumWant: -1, Port: 6881,
	}
	b := AppendAnnounce(nil, &in)
	if len(b) != AnnounceLen {
		t.Fatalf("announce of %d bytes, want %d", len(b), AnnounceLen)
	}
	var out Announce
	if err := ParseAnnounce(append(b, 2, 0), &out); err != nil {
		t.Fatal(err)
	}
	if string(out.Extended) != "\x02\x00" {
		t.Fatalf("options %x", out.Extended)
	}
	out.Extended = nil
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("read back %+v, want %+v", out, in)
	}
	connID, action, tx, err := ParseHeader(b)
	if err != nil || connID != in.ConnID || action != ActionAnnounce || tx != in.TxID {
		t.Fatalf("header %x %d %d %v", connID, action, tx, err)
	}

	for name, c := range map[string]struct {
		mutate func([]byte) []byte
		want   error
	}{
		"short":  {func(b []byte) []byte { return b[:AnnounceLen-1] }, ErrShort},
		"action": {func(b []byte) []byte { b[11] = byte(ActionScrape); return b }, ErrAction},
		"event":  {func(b []byte) []byte { b[83] = 4; return b }, ErrEvent},
	} {
		if err := ParseAnnounce(c.mutate(AppendAnnounce(nil, &in)), &out); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
	if _, _, _, err := ParseHeader(make([]byte, 15)); !errors.Is(err, ErrShort) {
		t.Errorf("15-byte header: %v", err)
	}
}

func TestErrorAnswer(t *testing.T) {
	b := AppendError(nil, 77, "go away")
	if string(b) != "\x00\x00\x00\x03\x00\x00\x00\x4dgo away" {
		t.Fatalf("error answer %q", b)
	}
}
