package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/mountreg"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/mount"
)

func listCommand() *command {
	return &command{
		name:    "list",
		summary: "list the running mounts with their rates and cache use",
		usage: `Usage: torfs list [flags]

Lists the torfs mounts running on this machine under this user: per
mount its mountpoint, process id, torrents, transfer rates, peers and
cache use (as 'torfs status' shows in full). Each running mount records
itself in $XDG_RUNTIME_DIR/torfs (/run/torfs for root, else
/tmp/torfs-UID) until it exits; records left by a torfs that was killed
are ignored and removed.

Flags:
  --json    print a JSON array: each mount's mountpoint, pid, source,
            status_url, torrents and status (as 'torfs status --json')

Examples:
  torfs list
  torfs list --json | jq -r '.[].mountpoint'
`,
		run: runList,
	}
}

// listed is one mount as torfs list --json prints it.
type listed struct {
	mountreg.Entry
	Status *mount.Status `json:"status,omitempty"`
	Error  string        `json:"error,omitempty"`
}

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("list")
	asJSON := fl.Bool("json", false, "JSON")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("takes no arguments, got %d", len(pos))
	}
	entries, err := mountreg.List(mountreg.Dir())
	if err != nil {
		return err
	}
	out := make([]listed, len(entries))
	for i, e := range entries {
		out[i].Entry = e
		st, err := fetchStatus(ctx, e.StatusURL)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Status = st
	}
	if *asJSON {
		if out == nil {
			out = []listed{}
		}
		return writeJSON(stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "no torfs mounts running")
		return nil
	}
	for _, m := range out {
		fmt.Fprintf(stdout, "%s  pid %d  %s\n", m.Mountpoint, m.PID, strings.Join(m.Torrents, ", "))
		if m.Status == nil {
			fmt.Fprintf(stdout, "  status unavailable: %s\n", m.Error)
			continue
		}
		var down, up float64
		peers := 0
		for _, t := range m.Status.Torrents {
			down += t.DownloadRate
			up += t.UploadRate
			peers += len(t.Peers)
		}
		budget := "unlimited"
		if m.Status.CacheBudget > 0 {
			budget = bytesize.Format(m.Status.CacheBudget)
		}
		fmt.Fprintf(stdout, "  %s; down %s/s, up %s/s; cache %s of %s\n",
			plural.Count(peers, "peer", "peers"), bytesize.Format(int64(down)), bytesize.Format(int64(up)),
			bytesize.Format(m.Status.CacheUsed), budget)
	}
	return nil
}

// fetchStatus asks a mount's status page for its status, within 5 s.
func fetchStatus(ctx context.Context, url string) (*mount.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, st, err := getStatus(ctx, url)
	return st, err
}

// getStatus reads the status JSON at url: as it came, and decoded.
func getStatus(ctx context.Context, url string) ([]byte, *mount.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("asking the mount's status page %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the status: %w", err)
	}
	var st mount.Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, nil, fmt.Errorf("the status page %s answered something else: %w", url, err)
	}
	return body, &st, nil
}
