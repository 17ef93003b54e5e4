package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/torfs/torfs/fetch"
)

// dhtFlags are the DHT flags of every command that joins a swarm.
type dhtFlags struct {
	off       bool
	bootstrap stringsFlag
	listen    string
	state     string
	stateSet  bool
}

// dhtFlagsHelp is the flag list for the --help texts of commands that
// take a magnet link; seedDHTFlagsHelp of torfs seed, which does not.
const (
	dhtFlagsHelp = `  --no-dht           do not use the DHT (BEP 5): peers only from trackers,
                     --peer and the magnet link
` + dhtFlagsHelpRest
	seedDHTFlagsHelp = `  --no-dht           do not use the DHT (BEP 5): peers only from the
                     torrent's trackers, --tracker and --peer
` + dhtFlagsHelpRest
)

const dhtFlagsHelpRest = `  --dht-bootstrap HOST:PORT
                     join the DHT through this node (repeatable; default:
                     router.bittorrent.com:6881 and other well-known routers)
  --dht-listen ADDR  UDP address of our DHT node (default: the --listen
                     address and port)
  --dht-state FILE   where the DHT node table is kept between runs (default:
                     $XDG_CACHE_HOME/torfs/dht.state, else
                     ~/.cache/torfs/dht.state; "" = not kept)
`

func (f *dhtFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.off, "no-dht", false, "no DHT")
	fs.Var(&f.bootstrap, "dht-bootstrap", "DHT bootstrap node")
	fs.StringVar(&f.listen, "dht-listen", "", "DHT UDP address")
	fs.Func("dht-state", "DHT state file", func(s string) error {
		f.state, f.stateSet = s, true
		return nil
	})
}

// config returns the DHT configuration, nil when it is off.
func (f *dhtFlags) config() (*fetch.DHTConfig, error) {
	if f.off {
		if len(f.bootstrap) > 0 || f.listen != "" {
			return nil, usagef("--no-dht conflicts with --dht-bootstrap and --dht-listen")
		}
		return nil, nil
	}
	cfg := &fetch.DHTConfig{Addr: f.listen, StateFile: f.state}
	if len(f.bootstrap) > 0 {
		cfg.Bootstrap = f.bootstrap // nil otherwise: the public routers
	}
	if !f.stateSet {
		dir, err := defaultCacheDir()
		if err != nil {
			return nil, fmt.Errorf("DHT state: %w (or give --dht-state FILE, or --dht-state '' to keep none)", err)
		}
		cfg.StateFile = filepath.Join(dir, "dht.state")
	}
	if cfg.StateFile != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.StateFile), 0o755); err != nil {
			return nil, fmt.Errorf("DHT state: %w", err)
		}
	}
	return cfg, nil
}
