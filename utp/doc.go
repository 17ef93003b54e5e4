// Package utp is the Micro Transport Protocol (BEP 29): reliable byte
// streams over UDP with LEDBAT congestion control, which yields to other
// traffic by keeping the queuing delay it adds near 100 ms. Most BitTorrent
// clients try uTP first; many peers behind NATs answer only on it.
//
// A Socket is one UDP port. It is a net.Listener for incoming uTP
// connections (Accept), dials outgoing ones (Dial), and hands every
// datagram that is not uTP (the DHT's KRPC messages start with 'd') to its
// PacketConn, so the DHT can share the port as libtorrent's does; on a
// socket of both families PacketConns splits them by the sender's family,
// for an IPv4 and an IPv6 DHT node (BEP 32):
//
//	s, err := utp.Listen(netip.MustParseAddrPort("0.0.0.0:6881"))
//	go serve(s)                      // s.Accept() → net.Conn
//	c, err := s.Dial(ctx, peer)      // net.Conn
//	dht.Serve(s.PacketConn())        // KRPC on the same port
//	s.Close()
//
// What is implemented: the packet header and selective-ack extension;
// connection ids and the SYN/STATE/DATA/FIN/RESET state machine;
// retransmission on timeouts from the measured round-trip time (RFC 6298,
// 500 ms floor) with exponential backoff, and fast retransmission after
// three duplicate acks or once three later transmissions arrived (a
// resend lost again included), with selective acks over 1024 packets;
// LEDBAT (slow start until a steady 8 ms of queuing delay, HyStart's
// test; then a 100 ms target, growing by up to an eighth of the window a
// round trip, and only while the window limits sending; halving on a
// loss that looks like congestion; one packet after a timeout); the
// receive window, reopened when a reader catches up; keepalives; net.Conn
// deadlines. Conn.Stats counts packets, resends, timeouts, duplicate acks,
// slow start exits and the time sending waited for each window; a Socket
// given a logger logs them as each connection ends. Acks are deferred
// until the socket has no more datagrams queued (libutp's scheme); all
// timers of all connections run from one ticker per socket; sent packets
// live in a reused ring and the send and receive streams in byte rings
// that only grow, so the data path neither allocates per packet nor
// moves bytes within its buffers.
//
// Datagrams are at most 1400 bytes, except between two torfs peers on a
// loopback address: they agree, by an extension other clients skip, on
// 32 KiB datagrams, since on loopback each datagram costs a system call at
// both ends and there is no MTU to fit.
//
// Not implemented yet: path MTU discovery (1400 bytes is assumed on every
// other path); batched system calls (recvmmsg/sendmmsg, GSO); a limit on
// the connections a socket accepts beyond its Accept backlog.
package utp
