package dht

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/torfs/torfs/internal/atomicfile"
	"github.com/torfs/torfs/internal/bencbound"
	"github.com/zeebo/bencode"
)

// stateFile is the saved form of a node: its ID and its routing table as
// compact node lists.
type stateFile struct {
	ID     string `bencode:"id"`
	Nodes  string `bencode:"nodes"`
	Nodes6 string `bencode:"nodes6"`
}

// loadState reads a state file; a missing file is no error (first run).
func loadState(path string) (ID, []NodeInfo, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ID{}, nil, nil
	}
	if err != nil {
		return ID{}, nil, fmt.Errorf("read DHT state: %w", err)
	}
	id, nodes, err := parseState(b)
	if err != nil {
		return ID{}, nil, fmt.Errorf("DHT state file %s is damaged (it will be rewritten): %w", path, err)
	}
	return id, nodes, nil
}

// parseState decodes the bytes of a state file.
func parseState(b []byte) (ID, []NodeInfo, error) {
	if len(b) == 0 || b[0] != 'd' {
		return ID{}, nil, bencbound.ErrNotDict
	}
	var s stateFile
	d := bencbound.Decoder{MaxDepth: maxDepth}
	if err := d.Decode(b, &s); err != nil {
		return ID{}, nil, err
	}
	if len(s.ID) != 20 {
		return ID{}, nil, errors.New("no 20-byte node id")
	}
	v4, err := parseCompactNodes(s.Nodes, false)
	if err != nil {
		return ID{}, nil, err
	}
	v6, err := parseCompactNodes(s.Nodes6, true)
	if err != nil {
		return ID{}, nil, err
	}
	return ID([]byte(s.ID)), append(v4, v6...), nil
}

// saveState replaces the state file atomically: a crash leaves the old
// file or the new one, never a mix.
func saveState(path string, id ID, nodes []NodeInfo) error {
	var v4, v6 []byte
	for _, n := range nodes {
		if n.Addr.Addr().Is4() {
			v4 = appendCompactNode(v4, n)
		} else {
			v6 = appendCompactNode(v6, n)
		}
	}
	b, err := bencode.EncodeBytes(&stateFile{ID: string(id[:]), Nodes: string(v4), Nodes6: string(v6)})
	if err != nil {
		return fmt.Errorf("encode DHT state: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("save DHT state: %w", err)
	}
	return nil
}
