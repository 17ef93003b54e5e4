package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/torfs/torfs/metainfo"
)

const (
	// webSeedConns workers share each web seed, so that one reads from
	// the network while the other hashes and stores.
	webSeedConns = 2
	// webSeedRunBytes is how many bytes a web seed is asked for at once (at
	// least one piece): large enough to keep one connection streaming,
	// small enough that peers still get most of a download.
	webSeedRunBytes = 8 << 20
	// webSeedMinPeers: with fewer peers serving us than this, web seeds
	// also fetch readahead and download-all pieces; otherwise only urgent
	// pieces no peer delivers.
	webSeedMinPeers = 4
	// webSeedMaxBackoff caps the wait after repeated errors.
	webSeedMaxBackoff = 5 * time.Minute
	// webSeedIdle is how often an idle worker looks for work without
	// being woken (peers leaving do not wake it).
	webSeedIdle = time.Second
	// webSeedMinRate bounds a run's duration: the server must deliver at
	// least this many bytes per second after a grace period.
	webSeedMinRate  = 32 << 10
	webSeedMinGrace = 30 * time.Second
)

// webSeedState holds a torrent's HTTP seeds (BEP 19).
type webSeedState struct {
	extra  []string // TorrentOptions.WebSeeds, e.g. a magnet's ws
	client *http.Client
	seeds  []*webSeed
}

// webSeed is one URL and its workers.
type webSeed struct {
	url  string
	wake chan struct{} // one token per idle worker to wake

	// guarded by t.mu
	runs       [webSeedConns]webSeedRun
	fails      int
	retryAt    time.Time // no request before this (back-off)
	dropped    bool
	downloaded int64
	lastError  string
}

// webSeedRun is the run of pieces one worker fetches: cur is the piece
// being fetched, last the end of the run. Peers with nothing else to do
// take pieces off the end (stealTail). Guarded by t.mu.
type webSeedRun struct {
	busy      bool
	cur, last int
}

// WebSeedStats describes one web seed.
type WebSeedStats struct {
	URL        string
	Downloaded int64 // verified bytes received from it
	// Dropped is set once it served data that failed its hash: it is no
	// longer used.
	Dropped   bool
	LastError string // the last failure, "" after a success
}

// WebSeeds returns the torrent's web seeds and how they fare.
func (t *Torrent) WebSeeds() []WebSeedStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]WebSeedStats, 0, len(t.webSeeds.seeds))
	for _, ws := range t.webSeeds.seeds {
		out = append(out, WebSeedStats{URL: ws.url, Downloaded: ws.downloaded, Dropped: ws.dropped, LastError: ws.lastError})
	}
	return out
}

// startWebSeeds starts downloading from the torrent's web seeds:
// webSeedConns workers per URL, sharing one HTTP client.
func (t *Torrent) startWebSeeds() {
	var urls []string
	for _, u := range append(slices.Clone(t.mi.URLList), t.webSeeds.extra...) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			t.log.Warn("ignoring a web seed that is not an http or https URL", "url", u)
			continue
		}
		if !slices.Contains(urls, u) {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	t.webSeeds.client = &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: 20 * time.Second,
		MaxConnsPerHost:       2 * webSeedConns,
		IdleConnTimeout:       time.Minute,
	}}
	t.mu.Lock()
	for _, u := range urls {
		t.webSeeds.seeds = append(t.webSeeds.seeds, &webSeed{url: u, wake: make(chan struct{}, webSeedConns)})
	}
	seeds := t.webSeeds.seeds
	t.mu.Unlock()
	for _, ws := range seeds {
		for k := range ws.runs {
			t.wg.Add(1)
			go t.webSeedWorker(ws, &ws.runs[k])
		}
	}
}

// wakeWebSeeds tells idle web seed workers that demand changed.
func (t *Torrent) wakeWebSeeds() {
	for _, ws := range t.webSeeds.seeds {
		for range webSeedConns {
			select {
			case ws.wake <- struct{}{}:
			default:
			}
		}
	}
}

// busyError is a server asking us to come back later (503 or 429, with
// Retry-After in seconds when it says how long).
type busyError struct {
	url, status string
	after       time.Duration
}

func (e busyError) Error() string { return fmt.Sprintf("%s: %s", e.url, e.status) }

type corruptError struct{ piece int }

func (e corruptError) Error() string {
	return fmt.Sprintf("piece %d fails its hash check", e.piece)
}

// webSeedWorker fetches runs of pieces from one web seed until the
// torrent closes or the seed proves to lie.
func (t *Torrent) webSeedWorker(ws *webSeed, run *webSeedRun) {
	defer t.wg.Done()
	defer t.webSeeds.client.CloseIdleConnections()
	tick := time.NewTicker(webSeedIdle)
	defer tick.Stop()
	var buf []byte
	for t.ctx.Err() == nil {
		t.mu.Lock()
		if ws.dropped {
			t.mu.Unlock()
			return
		}
		// The seed's back-off holds for all its workers.
		if wait := time.Until(ws.retryAt); wait > 0 {
			t.mu.Unlock()
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		first, last := t.webSeedClaim()
		if first >= 0 {
			*run = webSeedRun{busy: true, cur: first, last: last}
		}
		t.mu.Unlock()
		if first < 0 {
			select {
			case <-t.ctx.Done():
				return
			case <-ws.wake:
			case <-tick.C:
			}
			continue
		}
		t.log.Debug("fetching from a web seed", "url", ws.url, "first", first, "last", last)
		var err error
		buf, err = t.webSeedFetch(ws, run, first, last, buf)
		t.mu.Lock()
		run.busy = false
		t.webSeedRelease(first, last)
		t.webSeedResult(ws, err)
		t.mu.Unlock()
	}
}

// webSeedResult records how a run ended: a success clears the seed's
// failures, an error backs it off, a piece that fails its hash drops it.
// Called with t.mu held.
func (t *Torrent) webSeedResult(ws *webSeed, err error) {
	var corrupt corruptError
	var busy busyError
	switch {
	case ws.dropped || t.ctx.Err() != nil:
		// The other worker caught it lying, or the torrent is closing.
	case err == nil:
		ws.fails, ws.lastError = 0, ""
	case errors.As(err, &corrupt):
		ws.dropped, ws.lastError = true, err.Error()
		t.log.Error("web seed sent data that fails the piece hash; no longer using it", "url", ws.url, "err", err)
	default:
		ws.lastError = err.Error()
		if !errors.Is(err, ErrStorageFull) && !errors.Is(err, ErrDiskFull) { // a full storage is not the seed's fault
			ws.fails++
		}
		wait := webSeedBackoff(ws.fails)
		if errors.As(err, &busy) && busy.after > wait {
			wait = min(busy.after, webSeedMaxBackoff)
		}
		ws.retryAt = time.Now().Add(wait)
		t.log.Debug("web seed failed; retrying later", "url", ws.url, "err", err, "retry", wait)
	}
}

// webSeedBackoff is the wait after n consecutive failures: exponential
// from one second, capped.
func webSeedBackoff(n int) time.Duration {
	if n <= 0 {
		return 500 * time.Millisecond
	}
	return min(time.Second<<min(n-1, 10), webSeedMaxBackoff)
}

// webSeedClaim picks a run of missing pieces for a web seed and marks them
// pieceWebSeed, so that peers and other web seeds leave them alone. Urgent
// pieces (a reader waits) come first: peers have had their chance, since
// the picker runs as soon as demand changes. With few peers serving us,
// readahead and download-all pieces follow. It returns first < 0 when
// there is nothing to fetch. Called with t.mu held.
func (t *Torrent) webSeedClaim() (first, last int) {
	if t.closed || !time.Now().After(t.budgetUntil) {
		return -1, -1
	}
	serving := 0
	for p := range t.peers {
		if !p.peerChoking && (p.seed || p.numHave > 0) {
			serving++
		}
	}
	few := serving < webSeedMinPeers
	first = -1
	lowest := func(rng [2]int) {
		for i := max(rng[0], 0); i <= rng[1] && i < len(t.state) && (first < 0 || i < first); i++ {
			if t.state[i] == pieceMissing {
				first = i
				return
			}
		}
	}
	for r := range t.readers {
		for _, u := range r.reads {
			lowest(u)
		}
	}
	minPrio := prioUrgent
	if few {
		minPrio = prioNormal
		if first < 0 {
			for r := range t.readers {
				lowest(r.ahead)
			}
		}
		for i := 0; first < 0 && t.downloadAll && i < len(t.state); i++ {
			if t.state[i] == pieceMissing && t.want(i) {
				first = i
			}
		}
	}
	if first < 0 {
		return -1, -1
	}
	size := t.info.PieceSize(first)
	last = first
	for j := first + 1; j < len(t.state) && t.state[j] == pieceMissing && t.prio(j) >= minPrio; j++ {
		if size += t.info.PieceSize(j); size > webSeedRunBytes {
			break
		}
		last = j
	}
	for i := first; i <= last; i++ {
		t.state[i] = pieceWebSeed
	}
	return first, last
}

// stealTail takes the last unstarted piece of a web seed's run that p
// has, for a peer that has nothing else to fetch (the endgame), so that a
// slow web seed does not hold the end of a download alone. It returns -1
// when there is none. Called with t.mu held.
func (t *Torrent) stealTail(p *peer) int {
	for _, ws := range t.webSeeds.seeds {
		for k := range ws.runs {
			r := &ws.runs[k]
			if r.busy && r.last > r.cur && t.state[r.last] == pieceWebSeed && p.has(r.last) {
				i := r.last
				r.last--
				t.state[i] = pieceMissing
				return i
			}
		}
	}
	return -1
}

// webSeedMoveOn reports whether a run should end before piece i: nobody
// wants it any more (its reader moved or closed), or it is not urgent
// while a reader waits for a piece nobody fetches (a seek). Called with
// t.mu held.
func (t *Torrent) webSeedMoveOn(i int) bool {
	prio := t.prio(i)
	if prio == prioNone {
		return true
	}
	if prio == prioUrgent {
		return false
	}
	for r := range t.readers {
		for _, u := range r.reads {
			for j := max(u[0], 0); j <= u[1]; j++ {
				if t.state[j] == pieceMissing {
					return true
				}
			}
		}
	}
	return false
}

// webSeedRelease gives back the pieces of a run that were not stored.
// Called with t.mu held.
func (t *Torrent) webSeedRelease(first, last int) {
	released := false
	for i := first; i <= last; i++ {
		if t.state[i] == pieceWebSeed {
			t.state[i] = pieceMissing
			released = true
		}
	}
	if released {
		for p := range t.peers {
			t.fill(p)
		}
	}
}

// webSeedFetch downloads pieces [first, last] from ws as one stream of
// range requests, checks each piece's hash in memory as it completes, and
// stores and queues for verification the ones that pass. A piece that
// fails stops the run with a corruptError: nothing of it is stored. buf
// is reused between runs.
func (t *Torrent) webSeedFetch(ws *webSeed, run *webSeedRun, first, last int, buf []byte) ([]byte, error) {
	info := t.info
	off := info.PieceOffset(first)
	n := info.PieceOffset(last) + info.PieceSize(last) - off
	timeout := webSeedMinGrace + time.Duration(n/webSeedMinRate)*time.Second
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	rd := &webSeedReader{t: t, ctx: ctx, base: ws.url, spans: info.Spans(off, n)}
	defer rd.close()
	for i := first; i <= last; i++ {
		t.mu.Lock()
		stop := i > run.last || ws.dropped || (i > first && t.webSeedMoveOn(i))
		run.cur = i
		t.mu.Unlock()
		if stop {
			return buf, nil // the rest is released for peers or a new claim
		}
		size := info.PieceSize(i)
		if int64(cap(buf)) < size {
			buf = make([]byte, size)
		}
		b := buf[:size]
		if _, err := io.ReadFull(rd, b); err != nil {
			return buf, fmt.Errorf("web seed %s: piece %d: %w", ws.url, i, err)
		}
		if !t.mi.CheckPiece(i, b) {
			return buf, corruptError{piece: i}
		}
		if err := t.webSeedStore(i, b); err != nil {
			return buf, err
		}
		t.mu.Lock()
		ws.downloaded += size
		t.mu.Unlock()
	}
	return buf, nil
}

// webSeedStore writes a verified piece and queues it for the storage's
// own check, like a piece downloaded from peers. Called without t.mu.
func (t *Torrent) webSeedStore(i int, b []byte) error {
	for off := 0; off < len(b); off += maxCoalesce {
		end := min(off+maxCoalesce, len(b))
		if err := t.st.WriteBlock(i, int64(off), b[off:end]); err != nil {
			t.st.Discard(i)
			t.mu.Lock()
			switch {
			case errors.Is(err, ErrDiskFull):
				t.noteDiskFull(err)
				t.budgetUntil = time.Now().Add(500 * time.Millisecond)
			case errors.Is(err, ErrStorageFull):
				t.budgetUntil = time.Now().Add(500 * time.Millisecond)
				t.reapAbandoned()
			default:
				t.log.Error("could not store a piece from a web seed", "piece", i, "err", err)
			}
			t.mu.Unlock()
			return fmt.Errorf("storing piece %d: %w", i, err)
		}
	}
	t.downloaded.Add(int64(len(b)))
	t.mu.Lock()
	if t.state[i] == pieceWebSeed {
		t.state[i] = pieceHashing
		t.hashQ = append(t.hashQ, hashJob{piece: i})
		t.signalHash()
	}
	t.mu.Unlock()
	return nil
}

// webSeedReader reads a run of the torrent's byte space from a web seed:
// one range request per file part, opened as the reading reaches it. Pad
// files read as zeros without a request.
type webSeedReader struct {
	t     *Torrent
	ctx   context.Context
	base  string
	spans []metainfo.Span
	body  io.ReadCloser
	left  int64 // bytes of the current span still to read
}

func (r *webSeedReader) Read(b []byte) (int, error) {
	for r.left == 0 {
		r.close()
		if len(r.spans) == 0 {
			return 0, io.EOF
		}
		s := r.spans[0]
		r.spans = r.spans[1:]
		r.left = s.Length
		if !r.t.info.Files[s.File].Pad {
			body, err := r.open(s)
			if err != nil {
				return 0, err
			}
			r.body = body
		}
	}
	b = b[:min(int64(len(b)), r.left)]
	var n int
	var err error
	if r.body == nil {
		clear(b) // a pad file
		n = len(b)
	} else {
		n, err = r.body.Read(b)
		if err == io.EOF {
			if int64(n) < r.left {
				err = io.ErrUnexpectedEOF
			} else {
				err = nil
			}
		}
	}
	r.left -= int64(n)
	if werr := r.t.c.down.wait(r.ctx, n); werr != nil && err == nil {
		err = werr
	}
	return n, err
}

func (r *webSeedReader) close() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// open sends the range request for one file part and checks that the
// answer is exactly that part.
func (r *webSeedReader) open(s metainfo.Span) (io.ReadCloser, error) {
	info := r.t.info
	u := webSeedFileURL(r.base, info, s.File)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	end := s.Offset + s.Length - 1
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", s.Offset, end))
	req.Header.Set("User-Agent", "torfs/0.1")
	resp, err := r.t.webSeeds.client.Do(req)
	if err != nil {
		return nil, err
	}
	whole := s.Offset == 0 && s.Length == info.Files[s.File].Length
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		var a, b int64
		cr := resp.Header.Get("Content-Range")
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/", &a, &b); err != nil || a != s.Offset || b != end {
			resp.Body.Close()
			return nil, fmt.Errorf("%s: asked for bytes %d-%d, got Content-Range %q", u, s.Offset, end, cr)
		}
	case resp.StatusCode == http.StatusOK && whole && resp.ContentLength == s.Length:
		// The whole file, as asked, without a range.
	case resp.StatusCode == http.StatusOK:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the server ignores range requests", u)
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
		resp.Body.Close()
		err := busyError{url: u, status: resp.Status}
		if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
			err.after = time.Duration(secs) * time.Second
		}
		return nil, err
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != s.Length {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %d bytes announced for a range of %d", u, resp.ContentLength, s.Length)
	}
	return resp.Body, nil
}

// webSeedFileURL is where file f of the torrent lives below a web seed's
// URL (BEP 19): a single-file torrent's URL names the file itself, unless
// it ends with '/', where the torrent's name follows; a multi-file
// torrent's files are at URL/name/path, each component escaped.
func webSeedFileURL(base string, info *metainfo.Info, f int) string {
	if !info.MultiFile {
		if strings.HasSuffix(base, "/") {
			return base + url.PathEscape(info.Name)
		}
		return base
	}
	var b strings.Builder
	b.WriteString(base)
	if !strings.HasSuffix(base, "/") {
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(info.Name))
	for _, c := range info.Files[f].Path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(c))
	}
	return b.String()
}

// webSeedTrouble says why web seeds do not deliver, or "" when they
// would. Called with t.mu held.
func (t *Torrent) webSeedTrouble() string {
	var reasons []string
	for _, ws := range t.webSeeds.seeds {
		if ws.lastError == "" {
			return "" // this one works
		}
		reasons = append(reasons, ws.lastError)
	}
	if len(reasons) == 0 {
		return ""
	}
	return "web seeds failing: " + strings.Join(reasons, "; ")
}
