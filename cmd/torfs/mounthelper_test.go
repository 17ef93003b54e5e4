package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestParseHelperArgs(t *testing.T) {
	// As mount(8) calls it (util-linux 2.38, checked with a helper that
	// logs its arguments), and by hand.
	for _, tc := range []struct {
		args []string
		want helperCall
	}{
		{[]string{"/srv/t.torrent", "/mnt/t", "-o", "rw,cache_size=2GiB,allow_other,_netdev"},
			helperCall{source: "/srv/t.torrent", mountpoint: "/mnt/t", options: []string{"rw", "cache_size=2GiB", "allow_other", "_netdev"}}},
		{[]string{"/srv/t.torrent", "/mnt/t", "-f", "-n", "-v", "-o", "rw"},
			helperCall{source: "/srv/t.torrent", mountpoint: "/mnt/t", options: []string{"rw"}, fake: true, verbose: true}},
		{[]string{"-sv", "-okeep,,peer=a:1", "-o", "peer=b:2", "-t", "torfs", "s", "m"},
			helperCall{source: "s", mountpoint: "m", options: []string{"keep", "peer=a:1", "peer=b:2"}, sloppy: true, verbose: true}},
	} {
		got, err := parseHelperArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if got.source != tc.want.source || got.mountpoint != tc.want.mountpoint || !slices.Equal(got.options, tc.want.options) ||
			got.sloppy != tc.want.sloppy || got.fake != tc.want.fake || got.verbose != tc.want.verbose {
			t.Errorf("%q: got %+v, want %+v", tc.args, got, tc.want)
		}
	}
	for _, args := range [][]string{{"only-one"}, {"a", "b", "c"}, {"a", "b", "-o"}, {"a", "b", "-x"}} {
		if _, err := parseHelperArgs(args); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestHelperMountArgs(t *testing.T) {
	flags := commandFlags(mountCommand())
	call := helperCall{source: "/srv/big.torrent", mountpoint: "/mnt/t", options: []string{
		"rw", "cache_size=2GiB", "cache_dir=/var/cache/t", "readahead=16MiB", "allow_other", "_netdev", "nofail",
		"x-systemd.automount", "noauto", "defaults", "user", "nosuid", "nodev", "noexec",
		"peer=127.0.0.1:6881", "peer=[::1]:6882", "tracker=http://t/announce?a=b", "listen=:6881", "no_dht", "no_utp", "keep", "download_all=true",
	}}
	got, warnings, err := helperMountArgs(call, flags, true)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("err %v, warnings %q", err, warnings)
	}
	want := []string{"--daemon", "--cache-size=2GiB", "--cache-dir=/var/cache/t", "--readahead=16MiB", "-o", "allow_other",
		"--peer=127.0.0.1:6881", "--peer=[::1]:6882", "--tracker=http://t/announce?a=b", "--listen=:6881", "--no-dht", "--no-utp", "--keep", "--download-all=true",
		"--dht-state=/var/cache/t/dht.state", "--", "/srv/big.torrent", "/mnt/t"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// What it makes is a torfs mount command line.
	checkParses(t, "mount.torfs", append([]string{"mount"}, got...))

	// Root without cache_dir caches in /var/cache/torfs; others in
	// torfs mount's default.
	got, _, _ = helperMountArgs(helperCall{source: "s", mountpoint: "m"}, flags, true)
	if !slices.Contains(got, "--cache-dir="+rootCacheDir) || !slices.Contains(got, "--dht-state="+rootCacheDir+"/dht.state") {
		t.Errorf("root: %q", got)
	}
	got, _, _ = helperMountArgs(helperCall{source: "s", mountpoint: "m"}, flags, false)
	if !slices.Equal(got, []string{"--daemon", "--", "s", "m"}) {
		t.Errorf("user: %q", got)
	}

	for opt, wantErr := range map[string]string{
		"cache_sise=1G": `unknown option "cache_sise=1G"`,
		"daemon":        `unknown option "daemon"`,
		"o=allow_other": `unknown option "o=allow_other"`,
		"cache_size":    "cache_size needs a value",
		"peer":          "peer needs a value",
	} {
		_, _, err := helperMountArgs(helperCall{source: "s", mountpoint: "m", options: []string{"ro", opt}}, flags, false)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("-o %s: error %v, want %q", opt, err, wantErr)
		}
	}
	// -s: sloppy, an unknown option is a warning.
	got, warnings, err = helperMountArgs(helperCall{source: "s", mountpoint: "m", options: []string{"bogus", "keep"}, sloppy: true}, flags, false)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "bogus") || !slices.Contains(got, "--keep") {
		t.Errorf("sloppy: %q, warnings %q, err %v", got, warnings, err)
	}
}

func TestRunMountHelperExitStatus(t *testing.T) {
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	// -f checks the options and mounts nothing.
	if code := runMountHelper(ctx, []string{"/no/such.torrent", "/no/such/dir", "-f", "-v", "-o", "rw,cache_size=1GiB"}, &stdout, &stderr); code != 0 {
		t.Errorf("-f: exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "torfs mount --daemon --cache-size=1GiB") {
		t.Errorf("-v does not print the torfs mount command: %q", stdout.String())
	}
	stderr.Reset()
	if code := runMountHelper(ctx, []string{"s", "m", "-o", "rw,bogus_opt"}, reset(&stdout), &stderr); code != helperUsage || !strings.Contains(stderr.String(), "bogus_opt") {
		t.Errorf("unknown option: exit %d, %q", code, stderr.String())
	}
	stderr.Reset()
	// A value torfs mount refuses is bad usage too, said before any
	// daemon starts.
	if code := runMountHelper(ctx, []string{"s", "m", "-o", "cache_size=lots"}, reset(&stdout), &stderr); code != helperUsage || !strings.Contains(stderr.String(), "--cache-size") {
		t.Errorf("a bad value: exit %d, %q", code, stderr.String())
	}
}

// reset empties the output of a call whose output the test does not read.
func reset(b *bytes.Buffer) *bytes.Buffer { b.Reset(); return b }

func TestMountName(t *testing.T) {
	for mp, want := range map[string]string{"/mnt/film": "mnt-film", "/mnt/film/": "mnt-film", "/": "-", "/srv//t": "srv-t"} {
		if got := mountName(mp); got != want {
			t.Errorf("mountName(%q) = %q, want %q", mp, got, want)
		}
	}
}
