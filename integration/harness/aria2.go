package harness

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// Aria2Options configures Aria2Get.
type Aria2Options struct {
	Torrent string // path of the .torrent
	Dir     string // where the files go
	// Trackers are announce URLs added to the torrent's own: aria2 has
	// no way to be given a peer, so it finds its peers there.
	Trackers []string
}

// Aria2Get downloads a torrent with aria2c (Debian's aria2) and returns
// once aria2 exits, which it does when the download is complete and
// checked (it does not seed) or when ctx ends (it is then stopped). aria2
// runs sandboxed: no configuration file, sockets bound to 127.0.0.1, no
// DHT, LPD or PEX. The caller checks Result.Code and the files.
func Aria2Get(ctx context.Context, tb testing.TB, opts Aria2Options) *Result {
	tb.Helper()
	Require(tb, "aria2c")
	// A free port can be taken by someone else before aria2 binds it;
	// aria2 then gives up at once, so it is started again on a fresh
	// port, up to three times.
	for try := 1; ; try++ {
		args := aria2Args(opts, FreePort(tb))
		p := Start(tb, Command{Path: "aria2c", Args: args, Name: "aria2c"})
		code, err := p.Wait(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		r := &Result{Name: "aria2c", Args: args, Code: code, Stdout: p.Stdout(), Stderr: p.Stderr()}
		if code == 0 || try == 3 || !strings.Contains(r.Stdout+r.Stderr, "failed to bind TCP port") {
			return r
		}
	}
}

func aria2Args(opts Aria2Options, port int) []string {
	args := []string{
		"--no-conf", "--interface=127.0.0.1", "--disable-ipv6=true",
		"--listen-port=" + strconv.Itoa(port),
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--seed-time=0", "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=notice", "--log=-", "--log-level=info",
		"--dir=" + opts.Dir,
	}
	for _, t := range opts.Trackers {
		args = append(args, "--bt-tracker="+t)
	}
	return append(args, opts.Torrent)
}
