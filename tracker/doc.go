// Package tracker is BitTorrent's peer directory, both sides of it: a
// tracker server (HTTP announce and scrape per BEP 3, 23, 7 and 48, and
// UDP per BEP 15) that keeps swarms in a pluggable Store, and the client
// the swarm engine uses to announce to any tracker over http, https or
// udp, honouring BEP 12 tiers.
package tracker
