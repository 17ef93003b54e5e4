package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// LibtorrentPeer is what libtorrent knows about one peer it is (or was)
// connected to. BytesReceived and BytesSent count every block exchanged
// with the peer (exact, unless NoBlockLog); the Total and Rate fields are
// libtorrent's own figures as of its last report, which may miss the end of
// a short connection.
type LibtorrentPeer struct {
	BytesReceived int64 `json:"bytes_received"` // blocks it sent us
	BytesSent     int64 `json:"bytes_sent"`     // blocks we sent it

	Addr          string  `json:"addr"`
	Client        string  `json:"client"`
	PeerID        string  `json:"peer_id"` // hex
	Seed          bool    `json:"seed"`
	Outgoing      bool    `json:"outgoing"`
	TotalDownload int64   `json:"total_download"` // we got from it
	TotalUpload   int64   `json:"total_upload"`   // we sent to it
	DownloadRate  int64   `json:"download_rate"`
	UploadRate    int64   `json:"upload_rate"`
	Progress      float64 `json:"progress"`
}

// LibtorrentStatus is one status report of a libtorrent peer.
type LibtorrentStatus struct {
	State         string  `json:"state"`
	Progress      float64 `json:"progress"`
	NumPieces     int     `json:"num_pieces"`
	TotalDone     int64   `json:"total_done"`
	TotalWanted   int64   `json:"total_wanted"`
	DownloadRate  int64   `json:"download_rate"`
	UploadRate    int64   `json:"upload_rate"`
	TotalDownload int64   `json:"total_download"`
	TotalUpload   int64   `json:"total_upload"`
	NumPeers      int     `json:"num_peers"`
	NumSeeds      int     `json:"num_seeds"`
	Finished      bool    `json:"finished"`
	Error         string  `json:"error"`
	// Peers are connected now; PeersSeen are all peers met so far.
	Peers     []LibtorrentPeer `json:"peers"`
	PeersSeen []LibtorrentPeer `json:"peers_seen"`
}

// storyLines is how many events other than status a Libtorrent keeps for
// its error messages.
const storyLines = 40

// ltEvent is one JSON line of lt.py.
type ltEvent struct {
	Event   string  `json:"event"`
	T       float64 `json:"t"`
	Port    int     `json:"port"`
	Message string  `json:"message"`
	Elapsed float64 `json:"elapsed"`
	LibtorrentStatus
}

// ltEvents receives lt.py's stdout (the Process keeps the text for failure
// messages) and applies every complete JSON line to its Libtorrent.
type ltEvents struct{ lt *Libtorrent }

func (w ltEvents) Write(b []byte) (int, error) {
	lt := w.lt
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.partial = append(lt.partial, b...)
	for {
		i := bytes.IndexByte(lt.partial, '\n')
		if i < 0 {
			break
		}
		lt.apply(lt.partial[:i])
		lt.partial = lt.partial[i+1:]
	}
	return len(b), nil
}

// apply handles one event line; lt.mu is held.
func (lt *Libtorrent) apply(line []byte) {
	var ev ltEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		lt.badLines = append(lt.badLines, fmt.Sprintf("unreadable event %q: %v", line, err))
		return
	}
	if ev.Event != "status" {
		// Status lines bury the story in the raw output: keep the rest.
		lt.story = append(lt.story, string(line))
		if len(lt.story) > storyLines {
			lt.story = lt.story[len(lt.story)-storyLines:]
		}
	}
	switch ev.Event {
	case "listening":
		lt.port = ev.Port
		close(lt.listening)
	case "status", "stopped":
		lt.setStatus(ev.LibtorrentStatus)
	case "finished":
		lt.setStatus(ev.LibtorrentStatus)
		lt.elapsed = time.Duration(ev.Elapsed * float64(time.Second))
		close(lt.finished)
	case "tracker_reply":
		lt.replies++
		if lt.replies == 1 {
			close(lt.announced)
		}
	case "error":
		lt.errors = append(lt.errors, ev.Message)
	}
}

// setStatus records a status and wakes WaitStatus; lt.mu is held.
func (lt *Libtorrent) setStatus(st LibtorrentStatus) {
	lt.status = st
	close(lt.changed)
	lt.changed = make(chan struct{})
}

// WaitStatus waits until a status report satisfies cond (checked against
// the latest report first, then at every new one, about every Interval).
// It fails with the last status when the process exits first or ctx ends.
func (lt *Libtorrent) WaitStatus(ctx context.Context, cond func(LibtorrentStatus) bool) error {
	for {
		lt.mu.Lock()
		st, changed := lt.status, lt.changed
		lt.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-changed:
		case <-lt.proc.Done():
			if cond(lt.Status()) {
				return nil
			}
			return fmt.Errorf("libtorrent %s exited before the awaited status (%s)\n%s", lt.opts.Mode, lt.describe(), lt.proc.Output())
		case <-ctx.Done():
			return fmt.Errorf("libtorrent %s never reached the awaited status: %w (%s)\n%s", lt.opts.Mode, ctx.Err(), lt.describe(), lt.proc.Output())
		}
	}
}

// Finished is closed when libtorrent has every wanted piece.
func (lt *Libtorrent) Finished() <-chan struct{} { return lt.finished }

// WaitAnnounced waits until a tracker has answered one of libtorrent's
// announces, so that peers starting later get it from the tracker.
func (lt *Libtorrent) WaitAnnounced(ctx context.Context) error {
	select {
	case <-lt.announced:
		return nil
	case <-lt.proc.Done():
		return fmt.Errorf("libtorrent %s exited before a tracker answered (%s)\n%s", lt.opts.Mode, lt.describe(), lt.proc.Output())
	case <-ctx.Done():
		return fmt.Errorf("no tracker answered libtorrent %s: %w (%s)", lt.opts.Mode, ctx.Err(), lt.describe())
	}
}

// WaitFinished waits until libtorrent has every wanted piece (a seed: has
// checked its data). It fails with libtorrent's last status and output when
// the process exits first or ctx ends.
func (lt *Libtorrent) WaitFinished(ctx context.Context) error {
	select {
	case <-lt.finished:
		return nil
	default:
	}
	select {
	case <-lt.finished:
		return nil
	case <-lt.proc.Done():
		select {
		case <-lt.finished:
			return nil
		default:
		}
		return fmt.Errorf("libtorrent %s exited before finishing (%s)\n%s", lt.opts.Mode, lt.describe(), lt.proc.Output())
	case <-ctx.Done():
		return fmt.Errorf("libtorrent %s did not finish: %w (%s)\n%s", lt.opts.Mode, ctx.Err(), lt.describe(), lt.proc.Output())
	}
}

// describe summarizes the last status for error messages.
func (lt *Libtorrent) describe() string {
	st := lt.Status()
	var peers []string
	for _, p := range st.Peers {
		peers = append(peers, fmt.Sprintf("%s %q got %d sent %d", p.Addr, p.Client, p.TotalDownload, p.TotalUpload))
	}
	lt.mu.Lock()
	story := strings.Join(lt.story, "\n")
	lt.mu.Unlock()
	return fmt.Sprintf("state %s, progress %.1f%%, %d pieces, %d peers [%s], errors %q; last events:\n%s",
		st.State, 100*st.Progress, st.NumPieces, st.NumPeers, strings.Join(peers, "; "), lt.Errors(), story)
}
