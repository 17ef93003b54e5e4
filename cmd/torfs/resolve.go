package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/atomicfile"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

// loadOrResolve returns the torrent of a magnet link: from the .torrent
// saved at path by an earlier run, else fetched from peers and then saved
// there. The peers it found come second.
func loadOrResolve(ctx context.Context, c *fetch.Client, m *metainfo.Magnet, opts fetch.TorrentOptions, path string, stderr io.Writer) (*metainfo.MetaInfo, []string, error) {
	if mi, err := metainfo.Load(path); err == nil && m.Names(mi) {
		fmt.Fprintf(stderr, "using the metadata saved in %s\n", path)
		return mi, nil, nil
	}
	mi, peers, err := resolveWithProgress(ctx, c, m, opts, stderr)
	if err != nil {
		return nil, nil, err
	}
	if err := saveTorrent(mi, path); err != nil {
		return nil, nil, err
	}
	return mi, peers, nil
}

// resolveWithProgress resolves m, showing on stderr how many peers are
// known and connected and how many metadata pieces arrived.
func resolveWithProgress(ctx context.Context, c *fetch.Client, m *metainfo.Magnet, opts fetch.TorrentOptions, stderr io.Writer) (*metainfo.MetaInfo, []string, error) {
	p := newResolveProgress(stderr, m)
	start := time.Now()
	mi, peers, err := c.Resolve(ctx, m, opts, p.update)
	p.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, nil, fmt.Errorf("interrupted while fetching the metadata of %s", m.InfoHash)
		}
		if p.named {
			// The progress lines named the link already.
			return nil, nil, trimmedError{strings.Replace(err.Error(), "resolving magnet link "+m.InfoHash.String()+": ", "no metadata: ", 1), err}
		}
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "metadata of %s (%s) received in %v; %s known\n",
		oneLine(mi.Info.Name), mi.InfoHash, time.Since(start).Round(time.Millisecond), plural.Count(len(peers), "peer", "peers"))
	return mi, peers, nil
}

// resolveLayersWithProgress asks the peers of mi, a v2-only torrent
// whose piece layers leave files out, for the piece hashes it lacks,
// showing the progress on stderr.
func resolveLayersWithProgress(ctx context.Context, c *fetch.Client, mi *metainfo.MetaInfo, opts fetch.TorrentOptions, stderr io.Writer) ([]string, error) {
	p := newResolveProgress(stderr, mi.Magnet())
	p.layers = true
	start := time.Now()
	peers, err := c.ResolveLayers(ctx, mi, opts, p.update)
	p.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("interrupted while fetching the piece hashes of %s", oneLine(mi.Info.Name))
		}
		return nil, err
	}
	fmt.Fprintf(stderr, "piece hashes of %s received in %v\n", oneLine(mi.Info.Name), time.Since(start).Round(time.Millisecond))
	return peers, nil
}

// trimmedError is err with a shorter message.
type trimmedError struct {
	msg string
	err error
}

func (e trimmedError) Error() string { return e.msg }
func (e trimmedError) Unwrap() error { return e.err }

// saveTorrent writes mi as a .torrent file, atomically and durably.
func saveTorrent(mi *metainfo.MetaInfo, path string) error {
	b, err := mi.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("saving the torrent: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("saving the torrent: %w", err)
	}
	return nil
}

// resolveProgress shows the resolver's status: redrawn in place on a
// terminal, otherwise one line when it changes, at most every few
// seconds.
type resolveProgress struct {
	mu    sync.Mutex
	w     io.Writer
	hash  string
	tty   bool
	last  time.Time
	line  string
	drawn bool
	named bool // a line naming the link was written
	// layers: the metadata is known and only piece hashes are fetched
	// (ResolveLayers).
	layers bool
}

func newResolveProgress(w io.Writer, m *metainfo.Magnet) *resolveProgress {
	p := &resolveProgress{w: w, hash: m.InfoHash.String()}
	if m.DisplayName != "" {
		p.hash = oneLine(m.DisplayName)
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *resolveProgress) update(s fetch.ResolveStatus) {
	pieces := "size unknown"
	if s.Total > 0 {
		pieces = fmt.Sprintf("%d/%d pieces", s.Have, s.Total)
	}
	peers := fmt.Sprintf("%s known, %d connected", plural.Count(s.Peers, "peer", "peers"), s.Connected)
	line := fmt.Sprintf("fetching metadata of %s: %s, metadata %s", p.hash, peers, pieces)
	if s.HashPartsTotal > 0 {
		line += fmt.Sprintf(", piece hashes %d/%d parts", s.HashParts, s.HashPartsTotal)
	}
	if p.layers {
		line = fmt.Sprintf("fetching piece hashes of %s: %s, %d/%d parts", p.hash, peers, s.HashParts, s.HashPartsTotal)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if line == p.line {
		return
	}
	p.line = line
	now := time.Now()
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn, p.named = true, true
	case now.Sub(p.last) >= plainInterval || (s.Total > 0 && s.Have == s.Total):
		p.last = now
		fmt.Fprintln(p.w, line)
		p.named = true
	}
}

func (p *resolveProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
