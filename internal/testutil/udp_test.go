package testutil

import (
	"net"
	"runtime"
	"testing"
	"time"
)

func TestQueuedUDP(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if pkts := QueuedUDP(t, conn); len(pkts) != 0 {
		t.Fatalf("an idle socket has %d packets queued", len(pkts))
	}
	send, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	for _, p := range []string{"one", "two"} {
		if _, err := send.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	var pkts [][]byte
	deadline := time.Now().Add(10 * time.Second)
	for len(pkts) < 2 && time.Now().Before(deadline) {
		pkts = append(pkts, QueuedUDP(t, conn)...)
		runtime.Gosched()
	}
	if len(pkts) != 2 || string(pkts[0]) != "one" || string(pkts[1]) != "two" {
		t.Fatalf("QueuedUDP = %q, want [one two]", pkts)
	}
}
