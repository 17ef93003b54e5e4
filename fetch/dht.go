package fetch

import "github.com/torfs/torfs/wire"

// dhtState is a torrent's use of the DHT.
type dhtState struct{}

// startDHT finds peers for the torrent in the DHT and announces it there.
func (t *Torrent) startDHT() {}

// onPort learns the DHT port of a peer (BEP 5 PORT message).
func (p *peer) onPort(m *wire.Message) {}
