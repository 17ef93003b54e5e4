package fetch

import "slices"

// wantedState is the part of a download the user selected
// (TorrentOptions.Wanted): only those pieces are fetched for
// DownloadAll, and WantedComplete says when all of them are held.
// Guarded by t.mu.
type wantedState struct {
	set  []bool // nil: every piece
	left int    // wanted pieces not held
	// done is closed while every wanted piece is held; an eviction
	// replaces it with an open one.
	done   chan struct{}
	isDone bool
}

// initWanted sets the selection from opts once the held pieces are
// known. Called before the session runs.
func (t *Torrent) initWanted(set []bool) {
	t.wanted = wantedState{set: slices.Clone(set), done: make(chan struct{})}
	for i, s := range t.state {
		if t.want(i) && s != pieceHave {
			t.wanted.left++
		}
	}
	t.checkWantedDone()
}

// want reports whether piece i is part of the selection.
func (t *Torrent) want(i int) bool { return t.wanted.set == nil || t.wanted.set[i] }

// wantedHeld reports whether every wanted piece is held. Called with
// t.mu held.
func (t *Torrent) wantedHeld() bool { return t.wanted.left == 0 }

// gotWanted notes that piece i is now held. Called with t.mu held.
func (t *Torrent) gotWanted(i int) {
	if t.want(i) {
		t.wanted.left--
		t.checkWantedDone()
	}
}

// lostWanted notes that piece i, held before, is not any more. Called
// with t.mu held.
func (t *Torrent) lostWanted(i int) {
	if !t.want(i) {
		return
	}
	t.wanted.left++
	if t.wanted.isDone {
		t.wanted.isDone = false
		t.wanted.done = make(chan struct{})
	}
}

func (t *Torrent) checkWantedDone() {
	if t.wanted.left == 0 && !t.wanted.isDone {
		t.wanted.isDone = true
		close(t.wanted.done)
	}
}

// WantedComplete returns a channel closed once every piece of
// TorrentOptions.Wanted (every piece, when it is nil) is verified and
// held. An eviction reopens it as Complete does.
func (t *Torrent) WantedComplete() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wanted.done
}
