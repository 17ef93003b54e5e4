package fetch

// pexState is a torrent's peer exchange (BEP 11).
type pexState struct{}

// startPEX starts exchanging peer lists with connected peers.
func (t *Torrent) startPEX() {}
