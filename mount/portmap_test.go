package mount

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/torfs/torfs/fetch"
)

type fakeMapping struct{}

func (fakeMapping) ExternalPort() uint16 { return 0 }
func (fakeMapping) String() string       { return "mapped by a fake router" }
func (fakeMapping) Close() error         { return nil }

// TestStatusShowsPortMapping: the status page says how the listening
// port is mapped once a torrent started the mapping, and has no
// port_mapping key when mapping is off.
func TestStatusShowsPortMapping(t *testing.T) {
	s, err := New(Config{CacheDir: t.TempDir(), Fetch: fetch.Config{ListenAddr: "127.0.0.1:0",
		MapPort: func(uint16, func()) fetch.PortMapping { return fakeMapping{} }}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if _, err := s.Add(context.Background(), "hello", tinyTorrent()); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(s.Status())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"port_mapping":"mapped by a fake router"`) {
		t.Errorf("status JSON %s does not show the mapping", body)
	}
	off := newSession(t, t.TempDir(), false)
	if body, _ := json.Marshal(off.Status()); strings.Contains(string(body), "port_mapping") {
		t.Errorf("status JSON without port mapping: %s", body)
	}
}
