package dht

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/zeebo/bencode"
)

var id20 = strings.Repeat("a", 20)

// validPackets are real KRPC packets (BEP 5's examples and replies as
// libtorrent sends them).
var validPackets = []string{
	"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
	"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
	"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
	"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
	"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
	"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
	"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
	// Unknown keys, as newer clients send, are ignored.
	"d1:ad2:id20:abcdefghij01234567894:wantl2:n42:n6ee1:q4:ping1:t4:abcd1:v4:LT\x02\x001:y1:q2:roi1ee",
	"d1:rd2:id20:mnopqrstuvwxyz1234565:nodes26:" + id20 + "\x7f\x00\x00\x01\x1a\xe16:nodes638:" + id20 + strings.Repeat("\x00", 15) + "\x01\x1a\xe1e1:t2:aa1:y1:re",
}

func TestDecodeValidPackets(t *testing.T) {
	for _, p := range validPackets {
		m, err := decodeMessage([]byte(p))
		if err != nil {
			t.Errorf("%q: %v", p, err)
			continue
		}
		// What we decode, we can encode and decode again to the same.
		b, err := bencode.EncodeBytes(m)
		if err != nil {
			t.Fatalf("%q: re-encode: %v", p, err)
		}
		m2, err := decodeMessage(b)
		if err != nil || m2.T != m.T || m2.Y != m.Y || m2.Q != m.Q {
			t.Errorf("%q: round trip gave %+v, %v", p, m2, err)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, p := range []string{
		"",
		"le",
		"i5e",
		"d1:t2:aa1:y1:qe",                        // query without method or args
		"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", // short node id
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe",      // no transaction id
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t0:1:y1:qe", // empty transaction id
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t17:aaaaaaaaaaaaaaaaa1:y1:qe",
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:xe",                    // unknown type
		"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe",                                        // id of the wrong type
		"d1:rd2:id20:abcdefghij01234567895:nodes5:abcdee1:t2:aa1:y1:re",               // nodes not whole
		"d1:rd2:id20:abcdefghij01234567896:valuesl5:abcdeee1:t2:aa1:y1:re",            // value of 5 bytes
		"d1:rd2:id20:abcdefghij01234567896:values5:abcdee1:t2:aa1:y1:re",              // values not a list
		"d1:e3:abc1:t2:aa1:y1:ee",                                                     // error not a list
		"d1:eli201ee1:t2:aa1:y1:ee",                                                   // error without message
		"d1:el3:abci5ee1:t2:aa1:y1:ee",                                                // error of the wrong types
		"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:reGARBAGE",                      // trailing bytes
		"d1:rd2:id20:abcdefghij0123456789e1:t99999:aa1:y1:re",                         // string past the end
		"d1:rd2:id20:abcdefghij0123456789e1:t2000000000:aa1:y1:re",                    // huge string claim
		"d1:t2:aa1:y1:r1:xi99999999999999999999ee",                                    // huge integer
		"d1:t2:aa1:y1:r1:x" + strings.Repeat("l", 20) + strings.Repeat("e", 20) + "e", // deep nesting
	} {
		if m, err := decodeMessage([]byte(p)); err == nil {
			t.Errorf("%q decoded to %+v; want an error", p, m)
		}
	}
}

// FuzzKRPC feeds arbitrary packets to the decoder and to a live node's
// packet handler: nothing may panic, and what decodes re-encodes.
func FuzzKRPC(f *testing.F) {
	for _, p := range validPackets {
		f.Add([]byte(p))
	}
	f.Add([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti0e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"))
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q7:unknown1:t2:aa1:y1:qe"))
	f.Add([]byte("d1:t2000000000:aa1:y1:qe")) // bencode bombs: huge claimed lengths
	f.Add([]byte("d2000010000:"))
	n, err := New(Config{Addr: "127.0.0.1:0", Bootstrap: []string{}, QueryRate: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	// Replies go to a socket of ours that nobody reads.
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sink.Close() })
	from := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	dec := newDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		n.handle(dec, b, from)
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		out, err := bencode.EncodeBytes(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if _, err := decodeMessage(out); err != nil && !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %q does not decode: %v", out, err)
		}
	})
}

func TestCompactRoundTrip(t *testing.T) {
	nodes := []NodeInfo{
		{ID: RandomID(), Addr: netip.MustParseAddrPort("10.1.2.3:6881")},
		{ID: RandomID(), Addr: netip.MustParseAddrPort("127.0.0.1:65535")},
	}
	var b []byte
	for _, n := range nodes {
		b = appendCompactNode(b, n)
	}
	got, err := parseCompactNodes(string(b), false)
	if err != nil || len(got) != 2 || got[0] != nodes[0] || got[1] != nodes[1] {
		t.Errorf("parse(append(%v)) = %v, %v", nodes, got, err)
	}
	six := NodeInfo{ID: RandomID(), Addr: netip.MustParseAddrPort("[2001:db8::1]:443")}
	got, err = parseCompactNodes(string(appendCompactNode(nil, six)), true)
	if err != nil || len(got) != 1 || got[0] != six {
		t.Errorf("IPv6 round trip = %v, %v", got, err)
	}
	if _, err := parseCompactNodes(string(b[:30]), false); err == nil {
		t.Error("30 bytes of nodes parsed")
	}
}
