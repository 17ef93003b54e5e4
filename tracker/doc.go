// Package tracker is the client side of BitTorrent's peer directory: it
// announces to and scrapes trackers over http, https (BEP 3, 23, 7, 48)
// and udp (BEP 15), retrying transient failures, and walks a torrent's
// tracker list in BEP 12 tier order with Tiers, which also keeps the
// "tracker id" each tracker gave and sends it back to that tracker. It
// links nothing but the standard library and the bencode decoder, so the
// swarm engine can announce without the server's stores and metrics; the
// tracker server is package tracker/server.
package tracker
