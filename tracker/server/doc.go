// Package server is a BitTorrent tracker: Server answers HTTP announces
// and scrapes (BEP 3, 23, 7, 48) with a lean HTTP/1.1 front end, and UDP
// ones (BEP 15) with connection ids that need no state per client. Swarms
// live in a Store: MemoryStore for one process, RedisStore for trackers
// that share them. An AllowList makes a private tracker; /metrics serves
// Prometheus metrics and /stats a page a person can read. The client that
// announces to any tracker is package tracker, whose Event and ScrapeStats
// a Store uses too.
package server
