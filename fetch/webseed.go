package fetch

// webSeedState holds a torrent's HTTP seeds (BEP 19).
type webSeedState struct{}

// startWebSeeds starts downloading from the torrent's web seeds.
func (t *Torrent) startWebSeeds() {}
