package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/torfs/torfs/fetch"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/metainfo"
)

func infoCommand() *command {
	return &command{
		name:    "info",
		summary: "show what a .torrent file or magnet link holds",
		usage: `Usage: torfs info [flags] FILE.torrent|URL|MAGNET

Prints a torrent's name, info-hashes (v1 SHA-1, v2 SHA-256 for a BEP 52
torrent), version (v1, v2 or hybrid), total size, piece length and
count, files with their sizes, trackers, web seeds and private flag. An
http(s) URL of a .torrent file is fetched first (within 60 s and 16 MiB).

For a magnet link (quote it for the shell), the metadata is first fetched
from peers (BEP 9: from the link's trackers and x.pe peers, --peer,
--tracker and the DHT) and checked against the info-hash, with progress on
stderr; then it prints like a .torrent, and --save writes the .torrent.
--no-resolve shows only what the link itself carries, without the network.

Flags:
  --json             print one JSON object instead: info_hash, info_hash_v2
                     (v2 and hybrid), version, name, length, piece_length,
                     piece_count, private, files [{path, length}],
                     trackers [[url, ...], ...], url_list, and more
  --timeout DUR      give up fetching a magnet's metadata after DUR
                     (default 60s)
  --save FILE        write the magnet's resolved .torrent to FILE
  --no-resolve       for a magnet link, print only what the link carries
  --peer HOST:PORT   fetch the metadata from this peer (repeatable)
  --tracker URL      ask this tracker for peers too (repeatable)
  --listen ADDR      our peer address, announced to trackers (default ":0")
  -v                 log peer and tracker events to stderr
` + utpFlagsHelp + dhtFlagsHelp + `
Examples:
  torfs info ubuntu.iso.torrent
  torfs info https://example.org/ubuntu.iso.torrent
  torfs info --json dataset.torrent | jq -r '.files[].path | join("/")'
  torfs info --save temp.torrent 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp'
  torfs info --no-dht --timeout 10s 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&x.pe=192.0.2.7:6881'
  torfs info --no-resolve 'magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp'
`,
		run: runInfo,
	}
}

func runInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", time.Minute, "resolve timeout")
	save := fs.String("save", "", "write the .torrent")
	noResolve := fs.Bool("no-resolve", false, "do not fetch a magnet's metadata")
	var sf swarmFlags
	sf.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one .torrent file or magnet link, got %d arguments", len(pos))
	}
	src := pos[0]
	var mi *metainfo.MetaInfo
	if metainfo.IsMagnet(src) {
		m, err := metainfo.ParseMagnet(src)
		if err != nil {
			return err
		}
		if *noResolve {
			if *save != "" {
				return usagef("--save needs the metadata: drop --no-resolve")
			}
			if *asJSON {
				return writeJSON(stdout, magnetJSON(m))
			}
			printMagnet(stdout, m)
			return nil
		}
		if *timeout <= 0 {
			return usagef("--timeout must be positive, e.g. 60s")
		}
		if mi, err = resolveForInfo(ctx, m, &sf, *timeout, stderr); err != nil {
			return err
		}
	} else {
		if *save != "" {
			return usagef("--save is for magnet links; %s is already a .torrent", src)
		}
		if mi, err = loadTorrent(ctx, src); err != nil {
			return err
		}
	}
	if *save != "" {
		if err := saveTorrent(mi, *save); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "saved %s\n", *save)
	}
	if *asJSON {
		return writeJSON(stdout, torrentJSON(mi))
	}
	printTorrent(stdout, mi)
	return nil
}

// resolveForInfo fetches a magnet's metadata within timeout.
func resolveForInfo(ctx context.Context, m *metainfo.Magnet, sf *swarmFlags, timeout time.Duration, stderr io.Writer) (*metainfo.MetaInfo, error) {
	cfg, err := sf.config(stderr)
	if err != nil {
		return nil, err
	}
	cfg.MapPort = nil // a look-up is over before a router would matter
	opts := sf.options(nil)
	if len(m.Trackers)+len(m.Peers)+len(opts.Trackers)+len(opts.Peers) == 0 && cfg.DHT == nil {
		return nil, usagef("the magnet link names no tracker and no peer, and the DHT is off: give --peer or --tracker, drop --no-dht, or use --no-resolve")
	}
	c, err := fetch.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mi, _, err := resolveWithProgress(ctx, c, m, opts, stderr)
	if errors.Is(err, context.DeadlineExceeded) {
		// The error says what was tried; the time it had is ours.
		return nil, fmt.Errorf("%w (gave up after --timeout %v)", err, timeout)
	}
	return mi, err
}

// infoJSON is the --json output for a .torrent file. The first fields are
// the documented interface; keep their names stable.
type infoJSON struct {
	// InfoHash is the v1 info-hash; for a v2-only torrent, the v2 one
	// truncated to 20 bytes, as it goes on the wire.
	InfoHash     string     `json:"info_hash"`
	InfoHashV2   string     `json:"info_hash_v2,omitempty"`
	Version      string     `json:"version"`
	Name         string     `json:"name"`
	Length       int64      `json:"length"` // pad files included, as in piece geometry
	PieceLength  int64      `json:"piece_length"`
	PieceCount   int        `json:"piece_count"`
	Private      bool       `json:"private"`
	Files        []fileJSON `json:"files"`
	Trackers     [][]string `json:"trackers"`
	URLList      []string   `json:"url_list"`
	MultiFile    bool       `json:"multi_file"`
	Padding      int64      `json:"padding,omitempty"` // bytes of pad files within length
	Comment      string     `json:"comment,omitempty"`
	CreatedBy    string     `json:"created_by,omitempty"`
	CreationDate string     `json:"creation_date,omitempty"`
	Magnet       string     `json:"magnet"`
}

type fileJSON struct {
	Path       []string `json:"path"`
	Length     int64    `json:"length"`
	Executable bool     `json:"executable,omitempty"`
	Hidden     bool     `json:"hidden,omitempty"`
	Symlink    []string `json:"symlink,omitempty"`
}

func torrentJSON(mi *metainfo.MetaInfo) infoJSON {
	in := &mi.Info
	out := infoJSON{
		InfoHash: mi.InfoHash.String(), Version: mi.Version().String(), Name: in.Name, Length: in.Length,
		PieceLength: in.PieceLength, PieceCount: in.NumPieces(), Private: in.Private,
		Files: []fileJSON{}, Trackers: mi.Trackers(), URLList: mi.URLList, MultiFile: in.MultiFile,
		Comment: mi.Comment, CreatedBy: mi.CreatedBy, Magnet: mi.Magnet().String(),
	}
	if mi.HasV2() {
		out.InfoHashV2 = mi.InfoHashV2.String()
	}
	if out.Trackers == nil {
		out.Trackers = [][]string{}
	}
	if out.URLList == nil {
		out.URLList = []string{}
	}
	if !mi.CreationDate.IsZero() {
		out.CreationDate = mi.CreationDate.UTC().Format(time.RFC3339)
	}
	for _, f := range in.Files {
		if f.Pad {
			out.Padding += f.Length
			continue
		}
		out.Files = append(out.Files, fileJSON{Path: f.Path, Length: f.Length, Executable: f.Executable, Hidden: f.Hidden, Symlink: f.Symlink})
	}
	return out
}

// magnetInfoJSON is the --json output for a magnet link: what the link
// carries, with "magnet": true so a script can tell the two apart.
type magnetInfoJSON struct {
	InfoHash   string     `json:"info_hash"`
	InfoHashV2 string     `json:"info_hash_v2,omitempty"`
	Name       string     `json:"name"`
	Trackers   [][]string `json:"trackers"`
	URLList    []string   `json:"url_list"`
	Peers      []string   `json:"peers"`
	Magnet     bool       `json:"magnet"`
}

func magnetJSON(m *metainfo.Magnet) magnetInfoJSON {
	out := magnetInfoJSON{InfoHash: m.InfoHash.String(), Name: m.DisplayName, Trackers: [][]string{},
		URLList: m.WebSeeds, Peers: m.Peers, Magnet: true}
	if m.HasV2() {
		out.InfoHashV2 = m.InfoHashV2.String()
	}
	// Each tr is a tier of its own, as each -a is for mktorrent.
	for _, t := range m.Trackers {
		out.Trackers = append(out.Trackers, []string{t})
	}
	if out.URLList == nil {
		out.URLList = []string{}
	}
	if out.Peers == nil {
		out.Peers = []string{}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTorrent(w io.Writer, mi *metainfo.MetaInfo) {
	in := &mi.Info
	var nfiles int
	var pad int64
	for _, f := range in.Files {
		if f.Pad {
			pad += f.Length
		} else {
			nfiles++
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", oneLine(in.Name))
	if mi.HasV1() {
		fmt.Fprintf(tw, "Info-hash:\t%s\n", mi.InfoHash)
	}
	if mi.HasV2() {
		fmt.Fprintf(tw, "Info-hash v2:\t%s\n", mi.InfoHashV2)
	}
	fmt.Fprintf(tw, "Version:\t%s\n", versionText(mi.Version()))
	size := in.Length - pad
	fmt.Fprintf(tw, "Size:\t%s (%d bytes) in %s", bytesize.Format(size), size, plural.Count(nfiles, "file", "files"))
	if pad > 0 {
		fmt.Fprintf(tw, ", plus %s of BEP 47 padding", bytesize.Format(pad))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "Pieces:\t%s of %s\n", plural.Count(in.NumPieces(), "piece", "pieces"), bytesize.Format(in.PieceLength))
	fmt.Fprintf(tw, "Private:\t%s\n", yesNo(in.Private))
	if !mi.CreationDate.IsZero() || mi.CreatedBy != "" {
		created := ""
		if !mi.CreationDate.IsZero() {
			created = mi.CreationDate.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		if mi.CreatedBy != "" {
			created = strings.TrimSpace(created + " by " + mi.CreatedBy)
		}
		fmt.Fprintf(tw, "Created:\t%s\n", created)
	}
	if mi.Comment != "" {
		fmt.Fprintf(tw, "Comment:\t%s\n", oneLine(mi.Comment))
	}
	fmt.Fprintf(tw, "Magnet:\t%s\n", mi.Magnet())
	tw.Flush()
	printTiers(w, mi.Trackers())
	printList(w, "Web seeds", mi.URLList)
	fmt.Fprintln(w, "Files:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, f := range in.Files {
		if f.Pad {
			continue
		}
		name := strings.Join(f.Path, "/")
		if f.Symlink != nil {
			name += " -> " + strings.Join(f.Symlink, "/")
		}
		fmt.Fprintf(tw, "  %s\t  %s\n", bytesize.Format(f.Length), oneLine(name))
	}
	tw.Flush()
}

// versionText says which BitTorrent versions a torrent works with.
func versionText(v metainfo.Version) string {
	switch v {
	case metainfo.V2:
		return "v2 (BEP 52 only)"
	case metainfo.Hybrid:
		return "hybrid (v1 and v2, BEP 52)"
	}
	return "v1"
}

func printMagnet(w io.Writer, m *metainfo.Magnet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", oneLine(m.DisplayName))
	if m.HasV1() {
		fmt.Fprintf(tw, "Info-hash:\t%s\n", m.InfoHash)
	}
	if m.HasV2() {
		fmt.Fprintf(tw, "Info-hash v2:\t%s\n", m.InfoHashV2)
	}
	fmt.Fprintln(tw, "Size:\tunknown until the metadata is fetched from peers")
	tw.Flush()
	var tiers [][]string
	for _, t := range m.Trackers {
		tiers = append(tiers, []string{t})
	}
	printTiers(w, tiers)
	printList(w, "Web seeds", m.WebSeeds)
	printList(w, "Peers", m.Peers)
}

func printTiers(w io.Writer, tiers [][]string) {
	if len(tiers) == 0 {
		fmt.Fprintln(w, "Trackers:   none")
		return
	}
	fmt.Fprintln(w, "Trackers:")
	for i, t := range tiers {
		fmt.Fprintf(w, "  tier %d: %s\n", i+1, strings.Join(t, " "))
	}
}

func printList(w io.Writer, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, s := range items {
		fmt.Fprintf(w, "  %s\n", s)
	}
}

// oneLine keeps a name from a torrent from breaking the layout (or the
// terminal) with control characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
