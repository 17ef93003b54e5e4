package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/torfs/torfs/fs"
	"github.com/torfs/torfs/internal/bytesize"
	"github.com/torfs/torfs/internal/plural"
	"github.com/torfs/torfs/mount"
)

func statusCommand() *command {
	return &command{
		name:    "status",
		summary: "show progress, peers, rates and cache use of a mount",
		usage: `Usage: torfs status [flags] MOUNTPOINT

Asks the torfs mount serving MOUNTPOINT (or any path inside it) for its status: per torrent the
peers, transfer rates and cache use, and per file how much is verified;
for a magnet link whose metadata has not arrived yet, "resolving
metadata" with the peers found and the metadata pieces received.
The same data is served as JSON by the status page whose address
'torfs mount' prints.

Flags:
  --json    print the raw JSON (snake_case keys, listed in the README)
  --peers   list every peer

Examples:
  torfs status /mnt/film
  watch -n1 torfs status /mnt/torrents
  torfs status --json /mnt/film | jq '.torrents[0].verified'
`,
		run: runStatus,
	}
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("status")
	asJSON := fl.Bool("json", false, "raw JSON")
	peers := fl.Bool("peers", false, "list peers")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one mountpoint, got %d arguments", len(pos))
	}
	url, err := statusURL(pos[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, st, err := getStatus(ctx, url)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	printStatus(stdout, *st, *peers)
	return nil
}

// statusURL reads the status page address the mount serves as an
// extended attribute of its root. Given any path inside a mount, it walks
// up (by name, not following symbolic links out of the mount) to the
// directory that serves it.
func statusURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(abs); err != nil && !errors.Is(err, syscall.ENOTCONN) {
		return "", err
	}
	buf := make([]byte, 256)
	for dir := abs; ; dir = filepath.Dir(dir) {
		n, err := unix.Getxattr(dir, fs.XattrStatus, buf)
		switch {
		case err == nil:
			return string(buf[:n]), nil
		case errors.Is(err, syscall.ENOTCONN):
			return "", fmt.Errorf("%s is a dead mount (its torfs process died); clear it with 'fusermount3 -u %s'", dir, dir)
		case errors.Is(err, unix.ENODATA), errors.Is(err, syscall.ENOTSUP):
		case err != nil:
			return "", fmt.Errorf("%s: %w", dir, err)
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("%s is not a torfs mount, nor inside one", path)
		}
	}
}

func printStatus(w io.Writer, st mount.Status, peers bool) {
	fmt.Fprintf(w, "listening for peers on %s\n", st.Listen)
	if st.PortMapping != "" {
		fmt.Fprintf(w, "port mapping: %s\n", st.PortMapping)
	}
	if len(st.DHTNodes) > 0 {
		var fams []string
		for _, f := range []struct{ key, name string }{{"ipv4", "IPv4"}, {"ipv6", "IPv6"}} {
			if n, ok := st.DHTNodes[f.key]; ok {
				fams = append(fams, fmt.Sprintf("%d %s", n, f.name))
			}
		}
		fmt.Fprintf(w, "DHT nodes: %s\n", strings.Join(fams, ", "))
	}
	if st.CacheShared {
		fmt.Fprintf(w, "cache %s of %s shared by %d torrents\n", bytesize.Format(st.CacheUsed), bytesize.Format(st.CacheBudget), len(st.Torrents))
	}
	for _, r := range st.Resolving {
		fmt.Fprintf(w, "\n%s (%s)\n  %s\n", r.Name, r.InfoHash, r.Message)
		if r.LastError != "" && r.State != "failed" {
			fmt.Fprintf(w, "  last error: %s\n", r.LastError)
		}
	}
	for _, t := range st.Torrents {
		budget := "unlimited"
		switch {
		case st.CacheShared:
			budget = "the shared " + bytesize.Format(t.CacheBudget)
		case t.CacheBudget > 0:
			budget = bytesize.Format(t.CacheBudget)
		}
		fmt.Fprintf(w, "\n%s (%s)\n  %s of %s verified (%s)\n  %s; down %s/s, up %s/s; downloaded %s, uploaded %s\n  cache %s of %s in %s, %s\n",
			t.Name, t.InfoHash, bytesize.Format(t.Verified), bytesize.Format(t.Length), percent(t.Verified, t.Length),
			plural.Count(len(t.Peers), "peer", "peers"), bytesize.Format(int64(t.DownloadRate)), bytesize.Format(int64(t.UploadRate)),
			bytesize.Format(t.Downloaded), bytesize.Format(t.Uploaded), bytesize.Format(t.CacheUsed), budget, t.CacheDir,
			plural.Count(int(t.Evictions), "eviction", "evictions"))
		if t.DiskFull != "" {
			fmt.Fprintf(w, "  %s\n", t.DiskFull)
		}
		if peers {
			for _, p := range t.Peers {
				carrier := p.Transport
				if p.Encrypted {
					carrier += "+rc4" // MSE/PE
				}
				fmt.Fprintf(w, "    peer %-22s %-8s %-8s down %s/s up %s/s\n", p.Addr, carrier, p.Client,
					bytesize.Format(int64(p.DownloadRate)), bytesize.Format(int64(p.UploadRate)))
			}
		}
		for _, f := range t.Files {
			fmt.Fprintf(w, "  %6s  %10s  %s\n", percent(f.Verified, f.Length), bytesize.Format(f.Length), f.Path)
		}
	}
}

func percent(n, total int64) string {
	if total == 0 {
		return "100%"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", 100*float64(n)/float64(total)), ".0") + "%"
}
