package main

import (
	"errors"
	"fmt"

	"github.com/torfs/torfs/integration/harness"
)

// transport is how both leechers reach the seeder: the flags torfs get
// takes for it and the libtorrent settings. A uTP transport fills these
// in once torfs speaks uTP.
type transport struct {
	name      string
	torfsArgs []string
	lt        func(*harness.LibtorrentOptions)
	// unavailable, when set, says why the transport cannot be measured
	// yet.
	unavailable string
}

var errUnknownTransport = errors.New("unknown transport")

func lookupTransport(name string) (transport, error) {
	switch name {
	case "tcp":
		return transport{name: "TCP", lt: func(*harness.LibtorrentOptions) {}}, nil
	case "utp":
		return transport{name: "uTP", unavailable: "not yet available"}, nil
	}
	return transport{}, fmt.Errorf("%w %q: want tcp or utp", errUnknownTransport, name)
}
