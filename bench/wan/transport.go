package main

import (
	"errors"
	"fmt"

	"github.com/torfs/torfs/integration/harness"
)

// transport is how both leechers reach the seeder: the flags torfs get
// takes for it and the libtorrent settings.
type transport struct {
	name      string
	torfsArgs []string
	lt        func(*harness.LibtorrentOptions)
}

var errUnknownTransport = errors.New("unknown transport")

func lookupTransport(name string) (transport, error) {
	switch name {
	case "tcp":
		return transport{name: "TCP", torfsArgs: []string{"--no-utp"}, lt: func(*harness.LibtorrentOptions) {}}, nil
	case "utp":
		// The seeder and the libtorrent leecher speak uTP only; torfs
		// get dials both and keeps the uTP connection.
		return transport{name: "uTP", lt: func(o *harness.LibtorrentOptions) { o.UTPOnly = true }}, nil
	}
	return transport{}, fmt.Errorf("%w %q: want tcp or utp", errUnknownTransport, name)
}
