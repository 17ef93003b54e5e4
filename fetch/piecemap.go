package fetch

// Piece states as Torrent.PieceStates reports them, one byte per piece,
// printable so that a map of them reads as text.
const (
	PieceVerified    byte = 'v' // verified and held
	PieceDownloading byte = 'd' // blocks requested or written, or being hashed
	PieceWanted      byte = 'w' // not held, under a read or a reader's readahead
	PieceEvicted     byte = 'e' // held once this session, evicted since
	PieceMissing     byte = '.' // never held this session
)

// PieceStates appends the state of every piece, in order, to buf and
// returns it: one of the Piece* bytes each. A state wins over the ones
// listed after it (a piece being downloaded for a reader is
// PieceDownloading). It costs one pass over the pieces, allocating only
// when buf has no room.
func (t *Torrent) PieceStates(buf []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := len(buf)
	for i, s := range t.state {
		b := PieceMissing
		switch {
		case s == pieceHave:
			b = PieceVerified
		case s != pieceMissing:
			b = PieceDownloading
		case t.evicted != nil && t.evicted[i]:
			b = PieceEvicted
		}
		buf = append(buf, b)
	}
	states := buf[at:]
	wanted := func(u [2]int) {
		for i := max(u[0], 0); i <= min(u[1], len(states)-1); i++ {
			if states[i] == PieceMissing || states[i] == PieceEvicted {
				states[i] = PieceWanted
			}
		}
	}
	for r := range t.readers {
		for _, u := range r.reads {
			wanted(u)
		}
		wanted(r.ahead)
	}
	return buf
}
