package utp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	h := header{typ: stState, connID: 7, timestamp: 1, tsDiff: 2, wnd: 3, seq: 4, ack: 5}
	f.Add(h.append(nil))
	h.nSACK = 4
	h.sack[0] = 0x05
	f.Add(h.append(nil))
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
	f.Add([]byte{0x41, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		payload, err := h.parse(b)
		if !isUTP(b) && err == nil {
			t.Fatalf("parse accepted %x, which isUTP rejects", b)
		}
		if err != nil {
			return
		}
		if len(b) > 0 && b[0] == 'd' {
			t.Fatalf("a KRPC message (first byte 'd') parsed as uTP")
		}
		// A parsed header re-encodes to a packet that parses the same.
		enc := append(h.append(nil), payload...)
		var h2 header
		p2, err := h2.parse(enc)
		if err != nil {
			t.Fatalf("re-encoded %x does not parse: %v", enc, err)
		}
		if h2 != h || !bytes.Equal(p2, payload) {
			t.Fatalf("round trip changed the packet: %+v -> %+v", h, h2)
		}
	})
}

// FuzzHandle feeds arbitrary datagrams to a socket through its read
// loop's dispatch, accepting the connections they open: whatever a peer
// sends, the socket must neither panic nor hand a uTP packet to the
// PacketConn.
func FuzzHandle(f *testing.F) {
	syn := header{typ: stSyn, connID: 100, seq: 1}
	f.Add(syn.append(nil), syn.append(nil))
	data := header{typ: stData, connID: 101, seq: 1, ack: 1}
	f.Add(syn.append(nil), append(data.append(nil), "hello"...))
	sack := header{typ: stState, connID: 101, seq: 7, ack: 65535, nSACK: 4, sack: [maxSACKBytes]byte{0xff}}
	f.Add(syn.append(nil), sack.append(nil))
	fin := header{typ: stFin, connID: 101, seq: 3, ack: 1}
	f.Add(fin.append(nil), []byte("d1:y1:qe"))
	from := netip.MustParseAddrPort("127.0.0.1:9")
	f.Fuzz(func(t *testing.T, p1, p2 []byte) {
		// No read loop: this goroutine plays it, alone.
		s, err := newSocket(loopback, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		now := time.Unix(1e9, 0)
		for _, p := range [][]byte{p1, p2, p1} {
			s.dispatch(p, from, now)
			for len(s.other.in) > 0 {
				if d := <-s.other.in; isUTP(d.b) {
					t.Fatalf("the PacketConn got the uTP packet %x", d.b)
				}
			}
			s.flushAcks()
			// Exercise the timers and the sending side too.
			s.mu.Lock()
			var conns []*Conn
			for _, c := range s.conns {
				conns = append(conns, c)
			}
			s.mu.Unlock()
			for _, c := range conns {
				c.mu.Lock()
				c.tick(now.Add(time.Minute))
				if c.err == nil && !c.closing {
					c.sendQ.write([]byte("x"))
					c.flush(now)
				}
				c.mu.Unlock()
			}
		}
	})
}
